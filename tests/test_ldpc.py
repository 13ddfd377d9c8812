"""Tests of the 5G NR LDPC code (semcomm.digital.ldpc) and the MCS table, against Sionna."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from scipy.stats import binomtest
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.nr.utils import decode_mcs_index

from semcomm.digital import MODULATIONS
from semcomm.digital.ldpc import (
    CHECK_UPDATES,
    SCHEDULES,
    LdpcCode,
    LdpcDecoder,
    LdpcEncoder,
    lifting_size,
    select_base_graph,
)
from semcomm.digital.ldpc import decoder as decoder_module
from semcomm.digital.ldpc.basegraph import base_matrix
from semcomm.digital.ldpc.code import lift
from semcomm.digital.mcs import MCS_TABLE, get_mcs, info_bits, mcs_indices
from semcomm.stats import binomial_ci95

# (k, n, bits per symbol): both base graphs, fillers, high and low rates, repetition (n > n_cb).
CODES = [
    (12, 40, None),
    (100, 200, 2),
    (120, 1024, None),  # repetition: n_cb = 920
    (320, 400, 4),  # BG1
    (1000, 1200, 6),  # BG1
    (560, 1700, None),
    (2000, 2400, 8),  # BG1, high rate
]


def _bits(batch: int, k: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 2, (batch, k), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Sionna's torch ops on one thread: with two, OpenMP spin-waits make it 20x slower on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _awgn_llr(codewords: torch.Tensor, rate: float, ebno_db: float, seed: int) -> torch.Tensor:
    """BPSK over AWGN at Eb/N0 (bit 0 -> +1): LLRs ln P(1)/P(0) = -4 y / N0 (Es = 1, N0/2 per real)."""
    n0 = 10 ** (-(ebno_db + 10 * np.log10(rate)) / 10)
    noise = torch.randn(codewords.shape, generator=torch.Generator().manual_seed(seed))
    y = 1 - 2 * codewords.float() + (n0 / 2) ** 0.5 * noise
    return -4 * y / n0


@pytest.mark.parametrize(("k", "n", "qm"), CODES)
def test_rate_matching_equals_sionna(k: int, n: int, qm: int | None) -> None:
    code = LdpcCode(k, n, num_bits_per_symbol=qm)
    bits = _bits(20, k, seed=k)
    ours = LdpcEncoder(code)(bits)
    if n > code.n_cb:  # repetition of the circular buffer, which Sionna does not support
        assert qm is None
        assert torch.equal(ours[:, code.n_cb :], ours[:, : n - code.n_cb])
        n = 5 * k  # Sionna's lowest rate, 1/5: compare the first 5k bits
        ours = ours[:, :n]
    reference = LDPC5GEncoder(k, n, num_bits_per_symbol=qm, bg=code.bg)
    assert (code.bg, code.z) == (reference._bg, reference.z)
    assert torch.equal(ours, reference(bits.float()).to(torch.uint8))


@pytest.mark.parametrize(("k", "n", "qm"), CODES)
def test_codewords_satisfy_parity_checks(k: int, n: int, qm: int | None) -> None:
    code = LdpcCode(k, n, num_bits_per_symbol=qm)
    bits = torch.cat([torch.zeros(1, k, dtype=torch.uint8), _bits(30, k, seed=1)])
    c = LdpcEncoder(code).codewords(bits).numpy()
    assert not c[0].any()
    assert not ((code.pcm @ c.T) % 2).any()
    assert np.array_equal(c[:, :k], bits.numpy())
    assert not c[:, k : code.k_ldpc].any()  # filler bits


@pytest.mark.parametrize("bg", ["bg1", "bg2"])
def test_full_parity_check_matrix_every_lifting_set(bg: str) -> None:
    """With every row kept the matrix is the whole lifted base graph; encoding works for all 8 sets."""
    first_k = {}
    for k in range(12, 400):
        first_k.setdefault(lifting_size(k, bg)[1], k)
    assert sorted(first_k) == list(range(8))
    for i_ls, k in first_k.items():
        code = LdpcCode(k, LdpcCode(k, 2 * k, bg=bg).n_cb, bg=bg)
        assert code.i_ls == i_ls and code.rows_used == base_matrix(bg, i_ls).shape[0]
        assert (code.pcm != lift(base_matrix(bg, i_ls), code.z)).nnz == 0
        c = LdpcEncoder(code).codewords(_bits(5, k, seed=k)).numpy()
        assert not ((code.pcm @ c.T) % 2).any(), (k, i_ls)


def test_base_graph_selection() -> None:
    assert select_base_graph(292, 0.9) == "bg2"
    assert select_base_graph(3824, 0.67) == "bg2"
    assert select_base_graph(3825, 0.5) == "bg1"
    assert select_base_graph(5000, 0.25) == "bg2"
    assert select_base_graph(1000, 0.7) == "bg1"
    assert (base_matrix("bg1", 0) >= 0).sum() == 316 and (base_matrix("bg2", 0) >= 0).sum() == 197


@pytest.mark.parametrize("check_update", CHECK_UPDATES)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_noiseless_decoding(check_update: str, schedule: str) -> None:
    for k, n, qm in CODES[:4]:
        code = LdpcCode(k, n, num_bits_per_symbol=qm)
        bits = _bits(150, k, seed=2)  # more than LANES codewords per thread: lanes get refilled
        llr = 6.0 * LdpcEncoder(code)(bits).float() - 3.0
        out = LdpcDecoder(code, check_update=check_update, schedule=schedule)(llr)
        assert torch.equal(out.bits, bits) and bool(out.ok.all())
        assert out.bits.dtype == torch.uint8 and out.iterations.max() < 20


def test_erasures_and_infinite_llrs() -> None:
    """Erased positions (LLR 0) are recovered; +-inf LLRs are clipped, not propagated."""
    code = LdpcCode(200, 600)
    bits = _bits(40, 200, seed=3)
    llr = 8.0 * LdpcEncoder(code)(bits).float() - 4.0
    llr[:, 1::7] = torch.where(llr[:, 1::7] > 0, float("inf"), float("-inf"))
    llr[:, ::3] = 0.0
    out = LdpcDecoder(code)(llr)
    assert torch.equal(out.bits, bits) and bool(out.ok.all())


@pytest.mark.parametrize(
    ("k", "n", "ebno_db", "ours", "theirs"),
    [
        (100, 200, 1.5, "boxplus", "boxplus-phi"),
        (100, 200, 2.0, "boxplus", "boxplus-phi"),
        (320, 400, 2.8, "boxplus", "boxplus-phi"),
        (320, 400, 3.3, "boxplus", "boxplus-phi"),
        (100, 200, 2.0, "minsum", "minsum"),
        (320, 400, 3.5, "minsum", "minsum"),
    ],
)
def test_bler_matches_sionna(k: int, n: int, ebno_db: float, ours: str, theirs: str) -> None:
    """Flooding, 20 iterations, no early stop (Sionna has none), on the same LLRs.

    Paired comparison: under equal BLERs the codewords that exactly one decoder gets wrong are
    split evenly (exact McNemar test); both BLERs must also lie in each other's 95 % interval.
    """
    batch = 500
    code = LdpcCode(k, n)
    bits = _bits(batch, k, seed=10 + k)
    llr = _awgn_llr(LdpcEncoder(code)(bits), k / n, ebno_db, seed=int(ebno_db * 10))
    scale = {"scale": 1.0} if ours == "minsum" else {}
    ours_err = (LdpcDecoder(code, check_update=ours, schedule="flooding", early_stop=False, **scale)(llr).bits != bits).any(1)
    with _one_torch_thread():
        ref = LDPC5GDecoder(LDPC5GEncoder(k, n), cn_update=theirs, num_iter=20)(llr)
    ref_err = (ref.to(torch.uint8) != bits).any(1)
    e_ours, e_ref = int(ours_err.sum()), int(ref_err.sum())
    assert 0.05 * batch <= e_ref <= 0.6 * batch, e_ref  # an informative operating point
    only_ours, only_ref = int((ours_err & ~ref_err).sum()), int((ref_err & ~ours_err).sum())
    if only_ours + only_ref:
        assert binomtest(only_ours, only_ours + only_ref).pvalue > 0.01, (only_ours, only_ref)
    lo, hi = binomial_ci95(e_ref, batch)
    assert lo <= e_ours / batch <= hi
    lo, hi = binomial_ci95(e_ours, batch)
    assert lo <= e_ref / batch <= hi


def test_early_stop_keeps_converged_results() -> None:
    code = LdpcCode(320, 400)
    bits = _bits(400, 320, seed=4)
    llr = _awgn_llr(LdpcEncoder(code)(bits), 0.8, 3.5, seed=5)
    for check_update in CHECK_UPDATES:
        stop = LdpcDecoder(code, check_update=check_update, early_stop=True)(llr)
        full = LdpcDecoder(code, check_update=check_update, early_stop=False)(llr)
        both = stop.ok & full.ok
        assert both.float().mean() > 0.5
        assert torch.equal(stop.bits[both], full.bits[both])
        assert stop.iterations.float().mean() < 10 and bool((full.iterations == 20).all())


def test_results_do_not_depend_on_batch_composition() -> None:
    code = LdpcCode(100, 200)
    llr = _awgn_llr(LdpcEncoder(code)(_bits(150, 100, seed=6)), 0.5, 2.0, seed=7)
    decoder = LdpcDecoder(code)
    whole = decoder(llr)
    part = decoder(llr[37:41])
    assert torch.equal(whole.bits[37:41], part.bits) and torch.equal(whole.iterations[37:41], part.iterations)


def test_boxplus_not_worse_than_minsum() -> None:
    code = LdpcCode(100, 200)
    bits = _bits(600, 100, seed=8)
    llr = _awgn_llr(LdpcEncoder(code)(bits), 0.5, 2.0, seed=9)
    box = (LdpcDecoder(code, check_update="boxplus")(llr).bits != bits).any(1)
    nms = (LdpcDecoder(code, check_update="minsum")(llr).bits != bits).any(1)
    only_box, only_nms = int((box & ~nms).sum()), int((nms & ~box).sum())
    assert nms.sum() > 10
    assert binomtest(only_box, max(1, only_box + only_nms), alternative="greater").pvalue > 0.01


def test_one_compiled_signature() -> None:
    LdpcDecoder(LdpcCode(100, 200), check_update="boxplus", schedule="flooding", early_stop=False)(torch.zeros(3, 200))
    LdpcDecoder(LdpcCode(320, 400))(torch.zeros(1, 400, dtype=torch.float64))
    assert len(decoder_module._decode.signatures) == 1


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: LdpcCode(11, 40), "k=11 too small"),
        (lambda: LdpcCode(100, 104), "code rate"),
        (lambda: LdpcCode(4000, 8000, bg="bg2"), "exceeds the bg2"),
        (lambda: LdpcCode(9000, 12000), "exceeds the bg1"),
        (lambda: LdpcCode(100, 200, bg="bg3"), "unknown base graph"),
        (lambda: LdpcCode(100, 201, num_bits_per_symbol=2), "multiple of num_bits_per_symbol"),
        (lambda: LdpcDecoder(LdpcCode(100, 200), check_update="sum"), "unknown check update"),
        (lambda: LdpcDecoder(LdpcCode(100, 200), schedule="serial"), "unknown schedule"),
        (lambda: LdpcDecoder(LdpcCode(100, 200), num_iter=0), "num_iter"),
        (lambda: LdpcDecoder(LdpcCode(100, 200), scale=1.5), "scale"),
        (lambda: LdpcDecoder(LdpcCode(100, 200))(torch.zeros(2, 199)), r"shape \[B, 200\]"),
        (lambda: LdpcEncoder(LdpcCode(100, 200))(torch.zeros(2, 99)), r"shape \[B, 100\]"),
        (lambda: get_mcs(28), "invalid MCS index 28"),
        (lambda: get_mcs(-1), "invalid MCS index -1"),
        (lambda: get_mcs(2.0), "invalid MCS index 2.0"),
        (lambda: info_bits(3, 0), "n_uses"),
    ],
)
def test_invalid_arguments(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match) as err:
        make()
    assert "\n" not in str(err.value)


def test_mcs_table_equals_38214_table_2() -> None:
    assert list(mcs_indices()) == list(range(28))
    qm, rate = decode_mcs_index(torch.arange(28), table_index=2, is_pusch=False)
    assert [m.qm for m in MCS_TABLE] == qm.tolist()
    assert [m.rate for m in MCS_TABLE] == pytest.approx(rate.tolist())
    assert get_mcs(27).spectral_efficiency == pytest.approx(7.4063, abs=1e-4)
    assert get_mcs(20).spectral_efficiency == pytest.approx(5.3320, abs=1e-4)
    assert {m.modulation for m in MCS_TABLE} <= set(MODULATIONS)
    assert get_mcs(np.int64(5)).modulation == "16qam"
    assert info_bits(0, 512) == 120 and info_bits(27, 512) == 3792
