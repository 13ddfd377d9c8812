"""Tests of the closed-form / integrated BER theory (semcomm.digital.ber_theory)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from scipy.special import ndtr

from channels.conventions import ebno_db_to_esno_db, snr_db_to_noise_var
from semcomm.digital import (
    MODULATIONS,
    QAMDemapper,
    QAMMapper,
    awgn_ber,
    awgn_ber_approx,
    fading_ber,
    get_constellation,
    hard_decisions,
    rayleigh_ber_bpsk,
    rayleigh_ber_qpsk,
)

NAMES = list(MODULATIONS)
QAM_NAMES = ["16qam", "64qam", "256qam"]
FADING_DB = np.arange(-5.0, 40.1, 2.5)


def _q(x: np.ndarray) -> np.ndarray:
    return ndtr(-x)


def _rician(k_factor: float):  # a frozen scipy.stats distribution of |h|^2, mean 1
    return scipy.stats.ncx2(df=2, nc=2 * k_factor, scale=1 / (2 * (k_factor + 1)))


def _ber_from_decision_regions(name: str, esno_db: np.ndarray) -> np.ndarray:
    """Exact BER of ML symbol detection, straight from the constellation table.

    The ML (Voronoi) cell of a point of a square grid is the rectangle between the midpoints
    to its neighbouring levels on each axis; ``P(ĉ | c)`` is a product of two Gaussian interval
    probabilities (std ``sqrt(N0/2)`` per axis) and the BER is
    ``Σ_c Σ_ĉ P(ĉ | c) d_H(label(c), label(ĉ)) / (M m)``. Uses our labels; no Cho & Yoon.
    """
    const = get_constellation(name)
    m, size = const.bits_per_symbol, const.num_points
    # The table is complex64: snap its points to the exact grid of odd integers / scale.
    scale = 1.0 if m == 1 else math.sqrt(2 * (size - 1) / 3)
    points = np.round(const.points.astype(np.complex128) * scale) / scale
    np.testing.assert_allclose(points, const.points, atol=1e-6)

    def cells(coord: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        levels = np.unique(coord)  # exact: snapped points of one level are equal floats
        edges = np.concatenate([[-np.inf], (levels[1:] + levels[:-1]) / 2, [np.inf]])
        pos = np.searchsorted(levels, coord)
        return edges[pos], edges[pos + 1]

    lo_i, hi_i = cells(points.real)
    lo_q, hi_q = cells(points.imag) if m > 1 else (np.full(size, -np.inf), np.full(size, np.inf))
    hamming = (const.labels[:, None, :] != const.labels[None, :, :]).sum(-1)  # [M sent, M decided]
    noise_var = 10 ** (-np.asarray(esno_db, dtype=np.float64)[..., None, None] / 10)  # N0, Es = 1
    sigma = np.sqrt(noise_var / 2)

    def prob(lo: np.ndarray, hi: np.ndarray, coord: np.ndarray) -> np.ndarray:
        a = (lo[None, :] - coord[:, None]) / sigma
        b = (hi[None, :] - coord[:, None]) / sigma
        # Upper-tail difference for intervals right of the mean: no 1 - (1 - tiny) cancellation.
        return np.where(a > 0, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))

    p_decide = prob(lo_i, hi_i, points.real) * prob(lo_q, hi_q, points.imag)  # [..., M, M]
    return (p_decide * hamming).sum(axis=(-1, -2)) / (size * m)


@pytest.mark.parametrize("name", NAMES)
def test_exact_awgn_ber_equals_decision_region_integration(name: str) -> None:
    """Cho & Yoon's formula holds for our (3GPP/Sionna) labelling, to double precision."""
    esno_db = np.array([-5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0])
    np.testing.assert_allclose(awgn_ber(name, esno_db), _ber_from_decision_regions(name, esno_db), rtol=1e-9)


def test_textbook_closed_forms() -> None:
    esno_db = np.linspace(-5, 25, 13)
    g = 10 ** (esno_db / 10)
    np.testing.assert_allclose(awgn_ber("bpsk", esno_db), _q(np.sqrt(2 * g)), rtol=1e-12)
    np.testing.assert_allclose(awgn_ber("qpsk", esno_db), _q(np.sqrt(g)), rtol=1e-12)
    d = np.sqrt(g / 5)  # 16-QAM: 3/4 Q(d) + 1/2 Q(3d) - 1/4 Q(5d)
    expected = 0.75 * _q(d) + 0.5 * _q(3 * d) - 0.25 * _q(5 * d)
    np.testing.assert_allclose(awgn_ber("16qam", esno_db), expected, rtol=1e-12)


def test_shapes_and_errors() -> None:
    assert np.ndim(awgn_ber("qpsk", 3.0)) == 0
    assert awgn_ber("64qam", np.zeros((2, 3))).shape == (2, 3)
    assert fading_ber("16qam", np.zeros((2, 2)), scipy.stats.expon()).shape == (2, 2)
    with pytest.raises(ValueError, match=r"^unknown modulation '8psk'; choose one of: "):
        awgn_ber("8psk", 10.0)
    with pytest.raises(ValueError, match=r"mean 1"):
        fading_ber("qpsk", 10.0, scipy.stats.expon(scale=2.0))


def test_qpsk_equals_bpsk_at_same_ebno() -> None:
    """QPSK at Es/N0 = BPSK at Es/N0 - 3.01 dB (same Eb/N0)."""
    ebno_db = np.linspace(-4, 14, 10)
    qpsk = awgn_ber("qpsk", ebno_db_to_esno_db(ebno_db, 2))
    np.testing.assert_allclose(qpsk, awgn_ber("bpsk", ebno_db_to_esno_db(ebno_db, 1)), rtol=1e-12)
    np.testing.assert_allclose(qpsk, awgn_ber("bpsk", ebno_db_to_esno_db(ebno_db, 2) - 10 * math.log10(2)), rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_exact_vs_nearest_neighbour_approx(name: str) -> None:
    """Within a few % once the BER is small; for 16-QAM and up, clearly apart at 0 dB
    (QPSK and BPSK: the "approximation" is exact)."""
    m = MODULATIONS[name]
    high = {1: 10.0, 2: 13.0, 4: 20.0, 6: 26.0, 8: 32.0}[m]  # BER ~ 1e-6 .. 1e-8
    esno_db = np.array([high, high + 3])
    assert np.all(awgn_ber(name, esno_db) < 1e-5)
    np.testing.assert_allclose(awgn_ber_approx(name, esno_db), awgn_ber(name, esno_db), rtol=0.02)
    low = np.array([0.0])
    if m >= 4:
        assert np.all(np.abs(awgn_ber_approx(name, low) / awgn_ber(name, low) - 1) > 0.1)
    else:
        np.testing.assert_allclose(awgn_ber_approx(name, low), awgn_ber(name, low), rtol=1e-12)


def test_fading_expon_equals_rayleigh_closed_forms() -> None:
    rayleigh = scipy.stats.expon()
    np.testing.assert_allclose(fading_ber("bpsk", FADING_DB, rayleigh), rayleigh_ber_bpsk(FADING_DB), rtol=1e-4)
    np.testing.assert_allclose(fading_ber("qpsk", FADING_DB, rayleigh), rayleigh_ber_qpsk(FADING_DB), rtol=1e-4)
    # The closed forms themselves: BPSK ~ 1/(4γ) at high SNR, QPSK = BPSK at γ/2.
    assert rayleigh_ber_bpsk(40.0) == pytest.approx(1 / (4 * 1e4), rel=2e-4)
    np.testing.assert_allclose(rayleigh_ber_qpsk(FADING_DB), rayleigh_ber_bpsk(FADING_DB - 10 * math.log10(2)), rtol=1e-12)


def test_fading_expon_16qam_termwise_closed_form() -> None:
    """Multi-term check: on Rayleigh, E[Q(a sqrt(γ g))] = (1 - sqrt(c / (1 + c))) / 2 with
    c = a² γ / 2, applied to 16-QAM's 3/4 Q(d) + 1/2 Q(3d) - 1/4 Q(5d), d² = γ / 5."""
    g = 10 ** (FADING_DB / 10)

    def rayleigh_q(a2: float) -> np.ndarray:
        c = a2 * g / 2
        return 0.5 * (1 - np.sqrt(c / (1 + c)))

    expected = 0.75 * rayleigh_q(1 / 5) + 0.5 * rayleigh_q(9 / 5) - 0.25 * rayleigh_q(25 / 5)
    np.testing.assert_allclose(fading_ber("16qam", FADING_DB, scipy.stats.expon()), expected, rtol=1e-4)


def test_fading_none_is_awgn() -> None:
    np.testing.assert_array_equal(fading_ber("64qam", FADING_DB, None), awgn_ber("64qam", FADING_DB))


def test_rician_limits() -> None:
    """K -> 0 gives Rayleigh, K -> large gives AWGN, and the BER falls as K grows."""
    np.testing.assert_allclose(fading_ber("bpsk", FADING_DB, _rician(1e-7)), rayleigh_ber_bpsk(FADING_DB), rtol=1e-4)
    for name, esno_db in [("bpsk", np.array([0.0, 5.0, 9.0])), ("256qam", np.array([20.0, 28.0]))]:
        np.testing.assert_allclose(fading_ber(name, esno_db, _rician(1e5)), awgn_ber(name, esno_db), rtol=2e-3)
    bers = [fading_ber("16qam", 20.0, _rician(k)) for k in (0.0, 1.0, 10.0)] + [awgn_ber("16qam", 20.0)]
    assert all(a > b for a, b in zip(bers, bers[1:]))


@pytest.mark.parametrize(
    ("name", "esno_db"),
    [
        ("bpsk", [2.0, 6.0]),
        ("qpsk", [5.0, 9.0]),
        ("16qam", [10.0, 14.0, 16.0]),
        ("64qam", [16.0, 20.0, 22.0]),
        ("256qam", [22.0, 26.0, 28.0]),
    ],
)
def test_monte_carlo_matches_exact_ber(name: str, esno_db: list[float]) -> None:
    """Mapper -> CN(0, N0) noise -> max-log demapper (= ML symbol decisions, which the exact
    formula describes) -> hard decisions, within 4 sigma.

    Sigma is the binomial std over *symbols*, sqrt(p (1-p) / n_symbols): the bit errors of a
    symbol are correlated, and the per-symbol error fraction has variance <= p (1-p), so this
    bound is conservative (a 3 dB noise bug moves the BER far outside it).
    """
    m = MODULATIONS[name]
    n_symbols = 200_000
    gen = torch.Generator().manual_seed(7)
    mapper, demapper = QAMMapper(name), QAMDemapper(name, "maxlog")
    for snr in esno_db:
        bits = torch.randint(0, 2, (n_symbols * m,), generator=gen, dtype=torch.uint8)
        x = mapper(bits)
        n0 = snr_db_to_noise_var(snr)
        y = x + math.sqrt(n0) * torch.randn(x.shape, dtype=torch.complex64, generator=gen)
        ber = (hard_decisions(demapper(y, n0)) != bits).double().mean().item()
        p = float(awgn_ber(name, snr))
        assert abs(ber - p) <= 4 * math.sqrt(p * (1 - p) / n_symbols), (snr, ber, p)
