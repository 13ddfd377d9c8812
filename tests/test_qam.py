"""Tests of the Gray QAM modem (semcomm.digital.qam)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semcomm.digital import (
    MODULATIONS,
    QAMDemapper,
    QAMMapper,
    get_constellation,
    hard_decisions,
)

NAMES = list(MODULATIONS)


def _min_distance(points: np.ndarray) -> float:
    dist = np.abs(points[:, None] - points[None, :])
    return float(dist[dist > 1e-6].min())


def _brute_force_llr(y: torch.Tensor, noise_var: torch.Tensor, name: str, method: str) -> torch.Tensor:
    """LLR from the definition over the full constellation (no separability), float64.

    ``LLR_j = ln Σ_{c: b_j(c)=1} exp(-|y-c|²/N0) - ln Σ_{c: b_j(c)=0} exp(-|y-c|²/N0)``
    (max instead of the sum for max-log). y ``[..., n]`` -> ``[..., n*m]``.
    """
    const = get_constellation(name)
    points = torch.tensor(const.points, dtype=torch.complex128)
    labels = torch.tensor(const.labels, dtype=torch.bool)  # [M, m]
    metric = -(y.unsqueeze(-1) - points).abs().square() / noise_var.unsqueeze(-1)  # [..., n, M]
    metric = metric.unsqueeze(-1)  # [..., n, M, 1]
    neg_inf = torch.tensor(-math.inf, dtype=metric.dtype)
    ones = torch.where(labels, metric, neg_inf)  # [..., n, M, m]
    zeros = torch.where(~labels, metric, neg_inf)
    if method == "app":
        llr = torch.logsumexp(ones, dim=-2) - torch.logsumexp(zeros, dim=-2)
    else:
        llr = ones.amax(dim=-2) - zeros.amax(dim=-2)
    return llr.flatten(-2)


@pytest.mark.parametrize("name", NAMES)
def test_constellation_table(name: str) -> None:
    const = get_constellation(name)
    m = MODULATIONS[name]
    assert const.name == name and const.bits_per_symbol == m
    assert const.points.dtype == np.complex64 and const.points.shape == (1 << m,)
    assert const.labels.dtype == np.uint8 and const.labels.shape == (1 << m, m)
    # Point i carries binary(i), MSB first.
    np.testing.assert_array_equal(const.labels @ (1 << np.arange(m - 1, -1, -1)), np.arange(1 << m))
    # Unit average energy, zero mean.
    assert np.mean(np.abs(const.points.astype(np.complex128)) ** 2) == pytest.approx(1.0, abs=1e-6)
    assert abs(const.points.mean()) < 1e-6
    assert not const.points.flags.writeable


@pytest.mark.parametrize("name", NAMES)
def test_matches_3gpp_38211_formulas(name: str) -> None:
    """The closed forms of TS 38.211 §5.1 (nested PAM), independent of the implementation.

    E.g. 16-QAM: ``{(1-2b0)[2-(1-2b2)] + j (1-2b1)[2-(1-2b3)]} / sqrt(10)``. BPSK is the real
    ``1 - 2 b0`` (Sionna's ``pam(1)``), not the rotated BPSK of §5.1.2.
    """
    const = get_constellation(name)
    s = 1 - 2 * const.labels.astype(np.float64)  # [M, m], ±1
    m = const.bits_per_symbol
    if m == 1:
        expected = s[:, 0].astype(np.complex128)
    else:
        k = m // 2

        def nested(cols: np.ndarray) -> np.ndarray:  # cols [M, k]: s of b_d, b_{d+2}, ...
            level = cols[:, k - 1]
            for j in range(k - 2, -1, -1):
                level = cols[:, j] * (2 ** (k - 1 - j) - level)
            return level

        expected = (nested(s[:, 0::2]) + 1j * nested(s[:, 1::2])) / math.sqrt(2 * ((1 << m) - 1) / 3)
    if m == 4:  # spot-check the nested helper against the standard's explicit 16-QAM line
        b = const.labels.astype(np.float64)
        re = (1 - 2 * b[:, 0]) * (2 - (1 - 2 * b[:, 2]))
        im = (1 - 2 * b[:, 1]) * (2 - (1 - 2 * b[:, 3]))
        explicit = (re + 1j * im) / math.sqrt(10)
        np.testing.assert_allclose(expected, explicit, atol=1e-12)
    np.testing.assert_allclose(const.points, expected, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_gray_property(name: str) -> None:
    """Every nearest-neighbour pair differs in exactly one bit (and there are as many such
    pairs as in a square grid: 2 L (L - 1) for an L x L QAM, 1 for BPSK)."""
    const = get_constellation(name)
    dist = np.abs(const.points[:, None] - const.points[None, :])
    dmin = _min_distance(const.points)
    i, j = np.nonzero(np.triu(np.isclose(dist, dmin, rtol=1e-4), k=1))
    hamming = (const.labels[i] != const.labels[j]).sum(axis=1)
    np.testing.assert_array_equal(hamming, 1)
    side = int(round(math.sqrt(const.num_points)))
    assert len(i) == (1 if const.bits_per_symbol == 1 else 2 * side * (side - 1))


@pytest.mark.parametrize("method", ["app", "maxlog"])
@pytest.mark.parametrize("name", NAMES)
def test_round_trip_and_sign(name: str, method: str) -> None:
    m = MODULATIONS[name]
    g = torch.Generator().manual_seed(1)
    bits = torch.randint(0, 2, (3, 4, 50 * m), generator=g)
    x = QAMMapper(name)(bits)
    assert x.dtype == torch.complex64 and x.shape == (3, 4, 50)
    # Bool and float bits map identically.
    torch.testing.assert_close(QAMMapper(name)(bits.bool()), x, rtol=0, atol=0)
    torch.testing.assert_close(QAMMapper(name)(bits.float()), x, rtol=0, atol=0)
    demapper = QAMDemapper(name, method)
    llr = demapper(x, 1e-3)
    assert llr.dtype == torch.float32 and llr.shape == bits.shape
    torch.testing.assert_close(hard_decisions(llr), bits.to(torch.uint8), rtol=0, atol=0)
    # Sign convention: bit 1 -> positive LLR, also with a little noise at high SNR.
    noise_var = _min_distance(get_constellation(name).points) ** 2 / 50
    y = x + math.sqrt(noise_var) * torch.randn(x.shape, dtype=torch.complex64, generator=g)
    llr = demapper(y, noise_var)
    assert (llr[bits == 1] > 0).all() and (llr[bits == 0] < 0).all()


def test_sign_convention_bpsk() -> None:
    """BPSK: bit 0 -> +1, and LLR = ln P(1|y)/P(0|y) = -4 Re(y) / N0."""
    x = QAMMapper("bpsk")(torch.tensor([0, 1]))
    torch.testing.assert_close(x, torch.tensor([1 + 0j, -1 + 0j], dtype=torch.complex64))
    y = torch.tensor([0.3 + 5j, -0.7 - 2j], dtype=torch.complex64)
    llr = QAMDemapper("bpsk")(y, 0.5)
    torch.testing.assert_close(llr, torch.tensor([-4 * 0.3 / 0.5, 4 * 0.7 / 0.5]))


@pytest.mark.parametrize("name", NAMES)
def test_app_vs_maxlog(name: str) -> None:
    """Agree at high SNR; for 16-QAM and up differ at low SNR, where max-log is an
    approximation (for BPSK/QPSK each bit set has one point per dimension: they are equal)."""
    m = MODULATIONS[name]
    g = torch.Generator().manual_seed(2)
    x = QAMMapper(name)(torch.randint(0, 2, (200, 10 * m), generator=g))
    noise = torch.randn(x.shape, dtype=torch.complex64, generator=g)
    high = _min_distance(get_constellation(name).points) ** 2 / 50
    y = x + math.sqrt(high) * noise
    app, maxlog = QAMDemapper(name, "app")(y, high), QAMDemapper(name, "maxlog")(y, high)
    torch.testing.assert_close(maxlog, app, rtol=2e-3, atol=1e-3)
    y = x + noise  # N0 = 1, Es/N0 = 0 dB
    app, maxlog = QAMDemapper(name, "app")(y, 1.0), QAMDemapper(name, "maxlog")(y, 1.0)
    if m >= 4:
        assert (app - maxlog).abs().max() > 0.1
    else:
        torch.testing.assert_close(maxlog, app)


@pytest.mark.parametrize("method", ["app", "maxlog"])
@pytest.mark.parametrize("name", NAMES)
def test_llr_equals_full_constellation_definition(name: str, method: str) -> None:
    """The separable per-dimension demapper equals the full-constellation definition, for
    random y and per-element (and broadcast per-row) noise variances."""
    m = MODULATIONS[name]
    g = torch.Generator().manual_seed(3)
    y = 1.5 * torch.randn(4, 33, dtype=torch.complex128, generator=g)
    noise_var = 0.02 + 2 * torch.rand(4, 33, dtype=torch.float64, generator=g)
    llr = QAMDemapper(name, method)(y, noise_var)
    assert llr.dtype == torch.float64 and llr.shape == (4, 33 * m)
    torch.testing.assert_close(llr, _brute_force_llr(y, noise_var, name, method), rtol=1e-10, atol=1e-9)
    row_var = noise_var[:, :1]
    torch.testing.assert_close(
        QAMDemapper(name, method)(y, row_var),
        _brute_force_llr(y, row_var.expand_as(noise_var), name, method),
        rtol=1e-10,
        atol=1e-9,
    )


@pytest.mark.parametrize("name", NAMES)
def test_gradients(name: str) -> None:
    g = torch.Generator().manual_seed(4)
    y = torch.randn(2, 3, dtype=torch.complex128, generator=g, requires_grad=True)
    noise_var = torch.tensor([[0.3], [0.7]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: QAMDemapper(name, "app")(v, noise_var), (y,))
    y32 = y.detach().to(torch.complex64).requires_grad_()
    QAMDemapper(name, "maxlog")(y32, 0.5).square().sum().backward()
    assert y32.grad is not None and torch.isfinite(y32.grad).all() and (y32.grad.abs() > 0).all()


def _one_line_error(match: str, fn, *args) -> None:
    with pytest.raises(ValueError, match=match) as info:
        fn(*args)
    assert "\n" not in str(info.value)


def test_errors() -> None:
    _one_line_error(
        r"^unknown modulation '8psk'; choose one of: bpsk, qpsk, 16qam, 64qam, 256qam$", get_constellation, "8psk"
    )
    _one_line_error(r"unknown modulation '8psk'", QAMMapper, "8psk")
    _one_line_error(r"unknown modulation 'qam16'", QAMDemapper, "qam16")
    _one_line_error(r"^unknown demapping method 'exact'; choose one of: app, maxlog$", QAMDemapper, "16qam", "exact")
    _one_line_error(r"multiple of 4 \(16qam\); got shape \(2, 6\)", QAMMapper("16qam"), torch.zeros(2, 6))
    _one_line_error(r"multiple of 6", QAMMapper("64qam"), torch.tensor(1))
    demapper = QAMDemapper("qpsk")
    y = torch.zeros(2, 5, dtype=torch.complex64)
    _one_line_error(r"noise_var of shape \(2,\) does not broadcast", demapper, y, torch.ones(2))
    _one_line_error(r"y must be a complex tensor", demapper, y.real, 1.0)
    assert get_constellation("16QAM") is get_constellation("16qam")


# --- Against Sionna (the reference implementation of the 3GPP mapping) ----------------------


def _sionna_args(name: str) -> tuple[str, int]:
    m = MODULATIONS[name]
    return ("pam", 1) if m == 1 else ("qam", m)


@pytest.mark.parametrize("name", NAMES)
def test_mapper_matches_sionna(name: str) -> None:
    mapping = pytest.importorskip("sionna.phy.mapping", reason="Sionna (sionna-no-rt) not installed")
    m = MODULATIONS[name]
    bits = torch.randint(0, 2, (8, 100 * m), generator=torch.Generator().manual_seed(5))
    ours = QAMMapper(name)(bits)
    theirs = mapping.Mapper(*_sionna_args(name))(bits)
    torch.testing.assert_close(ours, theirs.to(torch.complex64), rtol=0, atol=1e-6)


@pytest.mark.parametrize("per_element", [False, True])
@pytest.mark.parametrize("method", ["app", "maxlog"])
@pytest.mark.parametrize("name", NAMES)
def test_demapper_matches_sionna(name: str, method: str, per_element: bool) -> None:
    """Same y, same N0 -> same LLRs. The sign convention is identical: Sionna's LLR is also
    ln P(b=1|y) - ln P(b=0|y) (a logit), so no sign flip is applied."""
    mapping = pytest.importorskip("sionna.phy.mapping", reason="Sionna (sionna-no-rt) not installed")
    m = MODULATIONS[name]
    g = torch.Generator().manual_seed(6)
    x = QAMMapper(name)(torch.randint(0, 2, (16, 64 * m), generator=g))
    y = x + 0.3 * torch.randn(x.shape, dtype=torch.complex64, generator=g)
    noise_var = 0.02 + 0.5 * torch.rand(y.shape, generator=g) if per_element else torch.tensor(0.09)
    ours = QAMDemapper(name, method)(y, noise_var)
    theirs = mapping.Demapper(method, *_sionna_args(name))(y, noise_var)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
