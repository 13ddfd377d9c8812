"""End-to-end uncoded BER (mapper -> channel -> receiver -> demapper) against closed-form theory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import erfc

from semcomm.ber import BerConfig, simulate_ber_point
from semcomm.digital import rayleigh_ber_bpsk


def qfunc(x: float) -> float:
    return 0.5 * erfc(x / math.sqrt(2))


def assert_within_mc(errors: int, bits: int, p: float) -> None:
    """``errors`` agrees with ``bits * p`` within 4.5 binomial standard deviations (+1 error of slack)."""
    sigma = math.sqrt(bits * p * (1 - p))
    assert abs(errors - bits * p) <= 4.5 * sigma + 1, f"{errors} errors, expected {bits * p:.1f} +- {sigma:.1f}"


def simulate(modulation: str, channel: str, snr_db: float, bits: int = 400_000, **kw) -> tuple[int, int, float | None]:
    config = BerConfig(modulation=modulation, channel=channel, bits=bits, seed=3, **kw)
    point = simulate_ber_point(config, snr_db)
    return point.errors, point.bits, point.ber_theory


@pytest.mark.parametrize("snr_db", [0.0, 4.0, 8.0])
def test_bpsk_awgn_matches_q_function(snr_db: float) -> None:
    errors, bits, theory = simulate("bpsk", "awgn", snr_db)
    closed = qfunc(math.sqrt(2 * 10 ** (snr_db / 10)))  # Eb = Es for BPSK
    assert theory == pytest.approx(closed, rel=1e-9)
    assert_within_mc(errors, bits, closed)


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 10.0])
def test_qpsk_awgn_matches_q_function(snr_db: float) -> None:
    errors, bits, theory = simulate("qpsk", "awgn", snr_db)
    closed = qfunc(math.sqrt(10 ** (snr_db / 10)))  # Eb = Es / 2
    assert theory == pytest.approx(closed, rel=1e-9)
    assert_within_mc(errors, bits, closed)


@pytest.mark.parametrize("snr_db", [10.0, 14.0, 18.0])
def test_16qam_awgn_matches_standard_approximation(snr_db: float) -> None:
    errors, bits, theory = simulate("16qam", "awgn", snr_db)
    # standard approximation (4/log2 M)(1 - 1/sqrt M) Q(sqrt(3 Es/N0 / (M-1))) = 0.75 Q(.)
    approx = 0.75 * qfunc(math.sqrt(3 * 10 ** (snr_db / 10) / 15))
    assert theory == pytest.approx(approx, rel=0.05)  # the exact formula; approx is tight here
    assert_within_mc(errors, bits, theory)


@pytest.mark.parametrize("modulation", ["64qam", "256qam"])
def test_high_order_qam_awgn_matches_exact_formula(modulation: str) -> None:
    snr_db = {"64qam": 18.0, "256qam": 24.0}[modulation]
    errors, bits, theory = simulate(modulation, "awgn", snr_db, bits=480_000)
    assert_within_mc(errors, bits, theory)


@pytest.mark.parametrize("channel", ["rayleigh-block", "rayleigh-fast"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_bpsk_rayleigh_perfect_csi_matches_closed_form(channel: str, snr_db: float) -> None:
    # block fading: one gain per 100-symbol frame -> fewer independent fades, so more bits.
    errors, bits, theory = simulate("bpsk", channel, snr_db, bits=2_000_000, frame_len=10)
    g = 10 ** (snr_db / 10)
    closed = 0.5 * (1 - math.sqrt(g / (1 + g)))
    assert theory == pytest.approx(closed, rel=1e-6)
    assert rayleigh_ber_bpsk(snr_db) == pytest.approx(closed, rel=1e-9)
    # Block fading correlates errors inside a frame: widen the binomial bound by sqrt(frame_len).
    sigma = math.sqrt(bits * closed * (1 - closed) * (10 if channel == "rayleigh-block" else 1))
    assert abs(errors - bits * closed) <= 4.5 * sigma + 1


@pytest.mark.parametrize("snr_db", [5.0, 15.0])
def test_qpsk_rayleigh_fast_matches_closed_form(snr_db: float) -> None:
    errors, bits, _ = simulate("qpsk", "rayleigh-fast", snr_db)
    g = 10 ** (snr_db / 10) / 2  # per-bit SNR of QPSK
    assert_within_mc(errors, bits, 0.5 * (1 - math.sqrt(g / (1 + g))))


@pytest.mark.parametrize("snr_db", [5.0, 12.0])
def test_rician_matches_numeric_integral(snr_db: float) -> None:
    k = 3.0
    errors, bits, theory = simulate("qpsk", "rician", snr_db, channel_kwargs={"k_factor": k, "block_len": 1})
    # Independent reference: average Q(sqrt(SNR |h|^2)) over the Rician envelope r = |h|
    # (pdf in the classic Rice form, not the ncx2 the library uses).
    omega, nu2 = 1.0, k / (k + 1)
    s2 = (omega - nu2) / 2
    pdf = lambda r: r / s2 * math.exp(-(r * r + nu2) / (2 * s2)) * np.i0(r * math.sqrt(nu2) / s2)
    ref, _ = integrate.quad(lambda r: qfunc(math.sqrt(10 ** (snr_db / 10) * r * r)) * pdf(r), 0, 8, limit=200)
    assert theory == pytest.approx(ref, rel=1e-4)
    assert_within_mc(errors, bits, ref)


def test_no_csi_on_rayleigh_is_useless_and_has_no_theory() -> None:
    errors, bits, theory = simulate("qpsk", "rayleigh-fast", 20.0, bits=100_000, csi="none")
    assert theory is None
    assert errors / bits == pytest.approx(0.5, abs=0.01)  # uniform phase: no coherent detection


def test_awgn_no_csi_equals_perfect_csi() -> None:
    a = simulate("16qam", "awgn", 8.0, bits=40_000, csi="none")
    b = simulate("16qam", "awgn", 8.0, bits=40_000, csi="perfect")
    assert a == b


def test_maxlog_demapper_also_matches_theory() -> None:
    """The exact formula is for per-dimension nearest-point decisions, which max-log makes."""
    errors, bits, theory = simulate("64qam", "awgn", 14.0, bits=240_000, demapper="maxlog")
    assert_within_mc(errors, bits, theory)


def test_same_seed_same_result_and_points_independent() -> None:
    cfg = BerConfig(modulation="qpsk", channel="rayleigh-block", bits=50_000, seed=11)
    assert simulate_ber_point(cfg, 6.0) == simulate_ber_point(cfg, 6.0)
    other = BerConfig(modulation="qpsk", channel="rayleigh-block", bits=50_000, seed=12)
    assert simulate_ber_point(cfg, 6.0).errors != simulate_ber_point(other, 6.0).errors
