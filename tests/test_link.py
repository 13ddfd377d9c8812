"""Tests of the LDPC + QAM digital link (semcomm.digital.link)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import channels
from semcomm.digital.link import LdpcLink, bler_table
from semcomm.digital.mcs import get_mcs, info_bits


def _bits(batch: int, k: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 2, (batch, k), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize("mcs", [0, 4, 9, 15, 22, 27])
def test_high_snr_delivers_every_image(mcs: int) -> None:
    link = LdpcLink(mcs, 256)
    bits = _bits(24, link.info_bits, seed=mcs)
    out = link.transmit(bits, "awgn", 40.0, "perfect", generator=torch.Generator().manual_seed(1))
    assert bool(out.ok.all()) and torch.equal(out.bits_hat, bits) and out.bler == 0.0
    assert out.codeword_ok.shape == out.converged.shape == (24, link.num_codewords)


def test_low_snr_fails() -> None:
    link = LdpcLink(9, 256)
    out = link.transmit(_bits(64, link.info_bits, 2), "awgn", 0.0, "perfect", generator=torch.Generator().manual_seed(2))
    assert out.ok.float().mean() < 0.1 and out.bler > 0.9


def test_segmentation_round_trip() -> None:
    """More bits than one code block: C equal blocks, every one decoded, bits back in order."""
    link = LdpcLink(20, 2000, check_update="offset-minsum")  # 256-QAM, about 10.6 kbit > 8448
    assert link.num_codewords == 2 and link.code.bg == "bg1"
    assert link.num_codewords * link.codeword_bits <= link.coded_bits < link.num_codewords * (link.codeword_bits + 8)
    assert link.info_bits == 2 * link.codeword_info <= info_bits(20, 2000)
    bits = _bits(6, link.info_bits, seed=3)
    out = link.transmit(bits, channels.get("awgn"), torch.full((6,), 30.0), generator=torch.Generator().manual_seed(3))
    assert torch.equal(out.bits_hat, bits) and out.codeword_ok.shape == (6, 2) and bool(out.ok.all())


def test_low_rate_uses_repetition() -> None:
    link = LdpcLink(0, 1024)
    assert link.codeword_bits > link.code.n_cb  # the circular buffer wraps around
    bits = _bits(16, link.info_bits, seed=4)
    out = link.transmit(bits, "awgn", 0.0, "perfect", generator=torch.Generator().manual_seed(4))
    assert torch.equal(out.bits_hat, bits)


def test_info_bits_fill_the_frame() -> None:
    for mcs in (0, 5, 11, 20, 27):
        for n_uses in (128, 512, 3000):
            link = LdpcLink(mcs, n_uses)
            target = info_bits(mcs, n_uses)
            assert target - link.num_codewords * (get_mcs(mcs).qm + 1) <= link.info_bits <= target
            assert link.modulation == get_mcs(mcs).modulation


def test_fading_per_image_and_csi() -> None:
    """Block Rayleigh fading with per-image SNR: perfect CSI decodes most images at high SNR;
    without CSI the receiver cannot undo the phase and loses almost all."""
    link = LdpcLink(4, 256)
    bits = _bits(200, link.info_bits, seed=5)
    snr = torch.full((200,), 25.0)
    perfect = link.transmit(bits, "rayleigh-block", snr, "perfect", generator=torch.Generator().manual_seed(5))
    blind = link.transmit(bits, "rayleigh-block", snr, "none", generator=torch.Generator().manual_seed(5))
    assert perfect.ok.float().mean() > 0.9 > 0.3 > blind.ok.float().mean()
    assert torch.equal(perfect.bits_hat[perfect.ok], bits[perfect.ok])


def test_bler_table() -> None:
    snrs = [-4.0, 4.0, 12.0]
    table = bler_table([2, 9], 128, "awgn", "perfect", snrs, n_blocks=60, seed=0)
    assert table.shape == (2, 3) and table.dtype == np.float64
    assert table[0, 0] > 0.8 and table[0, 2] == 0.0 and table[1, 1] == 1.0 and table[1, 2] == 0.0
    again = bler_table([9], 128, "awgn", "perfect", [4.0, 12.0], n_blocks=60, seed=0)
    assert np.array_equal(again[0], table[1, 1:])  # a point does not depend on the others
    middle = bler_table([2], 128, "awgn", "perfect", [-2.0], 200, seed=1)[0, 0]
    assert 0.2 < middle < 0.8


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: LdpcLink(28, 512), "invalid MCS index 28"),
        (lambda: LdpcLink(0, 20), "at least 12"),
        (lambda: LdpcLink(3, 0), "n_uses"),
        (lambda: LdpcLink(3, 100, demapper="exact"), "unknown demapping method"),
        (lambda: LdpcLink(3, 100).transmit(torch.zeros(2, 5), "awgn", 10.0), r"shape \[B, 87\]"),
        (lambda: LdpcLink(3, 100).transmit(torch.zeros(2, 87), "awgn", 10.0, "blind"), "unknown CSI mode"),
        (lambda: bler_table([3], 100, "awgn", "perfect", [0.0], n_blocks=0, seed=0), "n_blocks"),
    ],
)
def test_invalid_arguments(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match) as err:
        make()
    assert "\n" not in str(err.value)


def test_gold_sequence_is_sionnas() -> None:
    """TS 38.211 §5.2.1 against Sionna's implementation, at several c_init."""
    from sionna.phy.nr.utils import generate_prng_seq

    from semcomm.digital.link import gold_sequence

    for c_init in (0, 1 << 15, 12345, (1 << 31) - 1):
        assert np.array_equal(gold_sequence(3000, c_init).numpy(), np.asarray(generate_prng_seq(3000, c_init)))


@pytest.mark.parametrize("mcs", [11, 20])
def test_a_run_of_equal_bits_decodes_like_random_bits(mcs: int) -> None:
    """Without scrambling an all-zero payload (an image's zero padding) sits on one inner 64/256-QAM
    point, 3.7 dB and more below unit energy, and failed where random bits decoded: the link
    scrambles the frame (TS 38.211 §7.3.1.1), so both see the channel's SNR."""
    link = LdpcLink(mcs, 1024)
    snr = {11: 10.0, 20: 18.0}[mcs]  # where random bits just decode (unscrambled zeros: 0 and 1 of 40 did, measured)
    random = link.transmit(_bits(40, link.info_bits, 3), "awgn", snr, "perfect", generator=torch.Generator().manual_seed(4))
    zeros = link.transmit(torch.zeros(40, link.info_bits, dtype=torch.uint8), "awgn", snr, "perfect",
                          generator=torch.Generator().manual_seed(4))
    assert random.ok.float().mean() > 0.8 and zeros.ok.float().mean() > 0.8
    symbols = link.mapper(torch.nn.functional.pad(link.encoder(torch.zeros(link.num_codewords, link.codeword_info,
                                                                            dtype=torch.uint8)).flatten(),
                                                  (0, link.coded_bits - link.num_codewords * link.codeword_bits))[None]
                          ^ link.scrambler)
    assert float(symbols.abs().square().mean()) == pytest.approx(1.0, abs=0.1)  # scrambled zeros: unit energy on average
