"""3GPP TDL models against TR 38.901 and Sionna's ``tr38901.TDL``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import channels
from channels.tdl import TDL

# Reference rows typed from TR 38.901 Tables 7.7.2-1..5 (normalised delay, power in dB), with
# the tap counts and the LOS rows (power in dB, K-factor in dB); independent of channels.tdl.
REFERENCE_ROWS = {
    "A": {0: (0.0000, -13.4), 1: (0.3819, 0.0), 9: (1.5375, -15.9), 22: (9.6586, -29.7)},
    "B": {0: (0.0000, 0.0), 5: (0.2986, -1.2), 15: (1.7842, -1.9), 22: (4.7834, -11.3)},
    "C": {0: (0.0000, -4.4), 5: (0.6366, 0.0), 12: (1.2285, -5.1), 23: (8.6523, -22.8)},
    "D": {0: (0.0, -13.5), 1: (0.035, -18.8), 4: (1.405, -17.9), 12: (12.525, -27.7)},
    "E": {0: (0.0000, -22.03), 1: (0.5133, -15.8), 11: (5.4524, -20.2), 13: (20.6519, -29.2)},
}
TAP_COUNTS = {"A": 23, "B": 23, "C": 24, "D": 13, "E": 14}
LOS = {"D": (-0.2, 13.3), "E": (-0.03, 22.0)}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("model", list(REFERENCE_ROWS))
def test_profiles_follow_tr38901(model: str) -> None:
    tdl = TDL(model, delay_spread_ns=100.0)
    profile = tdl.profile
    assert tdl.num_taps == TAP_COUNTS[model]
    for row, (delay, power_db) in REFERENCE_ROWS[model].items():
        assert (profile.delays[row], profile.powers_db[row]) == (delay, power_db)
        assert tdl.delays_s[row].item() == pytest.approx(delay * 100e-9)  # scaled by the delay spread
    if model in LOS:
        assert profile.los_power_db == LOS[model][0]
        assert profile.k_factor_db == pytest.approx(LOS[model][1])
    else:
        assert profile.los_power_db is None and tdl.los_power == 0.0
    # Normalised: unit total power; and the normalised delays have an RMS delay spread of ~1.
    p = tdl.powers.numpy().copy()
    p[0] += tdl.los_power
    assert p.sum() == pytest.approx(1.0)
    tau = np.asarray(profile.delays)
    assert math.sqrt(p @ tau**2 - (p @ tau) ** 2) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("model", list(REFERENCE_ROWS))
def test_profiles_equal_sionna(model: str) -> None:
    tr38901 = pytest.importorskip("sionna.phy.channel.tr38901")
    ref = tr38901.TDL(model, delay_spread=300e-9, carrier_frequency=3.5e9, device="cpu")
    ours = TDL(model, delay_spread_ns=300.0)
    mean_powers = ours.powers.clone()
    mean_powers[0] += ours.los_power
    np.testing.assert_allclose(mean_powers.numpy(), ref.mean_powers.double().numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours.delays_s.numpy(), ref.delays.double().numpy(), rtol=1e-5, atol=1e-15)
    if model in LOS:
        assert ours.los_power == pytest.approx(float(ref.mean_power_los), rel=1e-5)


def _freq_corr(h: torch.Tensor) -> np.ndarray:
    """|E[H(f) H*(f + d)]| for d = 0..N-1 subcarriers, averaged over f: h complex [draws, N]."""
    n = h.shape[-1]
    return np.array([(h[:, : n - d] * h[:, d:].conj()).mean().abs().item() for d in range(n)])


@pytest.mark.parametrize("model", ["A", "D"])
def test_frequency_correlation_matches_sionna_and_the_pdp(model: str) -> None:
    sionna_channel = pytest.importorskip("sionna.phy.channel")
    from sionna.phy import config
    from sionna.phy.channel.tr38901 import TDL as SionnaTDL

    draws = 10_000
    ch = channels.get(f"tdl-{model.lower()}")  # 300 ns, 128 subcarriers of 30 kHz
    n = ch.grid.num_subcarriers
    ours = ch.tdl(draws, 1, ch.grid.symbol_duration, gen()) @ ch.phasors  # [B, 1, N]
    config.seed = 1
    a, tau = SionnaTDL(model, 300e-9, 3.5e9, device="cpu")(draws, 1, ch.grid.sample_rate)
    freqs = sionna_channel.subcarrier_frequencies(n, 30e3, device="cpu")
    theirs = sionna_channel.cir_to_ofdm_channel(freqs, a, tau).reshape(draws, n)
    f, p = ch.grid.frequencies.numpy(), ch.tdl.powers.numpy().copy()
    p[0] += ch.tdl.los_power  # the LOS part sits at zero delay
    exact = np.abs(np.exp(-2j * np.pi * np.outer(f - f[0], ch.tdl.delays_s.numpy())) @ p)  # |sum_l p_l e^{-j2pi df tau_l}|
    ours_corr, theirs_corr = _freq_corr(ours[:, 0]), _freq_corr(theirs)
    tol = 2 / math.sqrt(draws)  # a few Monte-Carlo standard deviations of a mean over subcarriers
    np.testing.assert_allclose(ours_corr, exact, atol=tol)
    np.testing.assert_allclose(theirs_corr, exact, atol=tol)
    np.testing.assert_allclose(ours_corr, theirs_corr, atol=1.5 * tol)


@pytest.mark.parametrize("model", ["D", "E"])
def test_rician_first_tap_has_the_k_factor(model: str) -> None:
    tdl = TDL(model)
    a0 = tdl(100_000, 1, 1e-4, gen())[:, 0, 0]
    k = 10 ** (LOS[model][1] / 10)
    total = tdl.los_power + tdl.powers[0].item()
    assert a0.abs().square().mean().item() == pytest.approx(total, rel=0.01)
    assert tdl.los_power / tdl.powers[0].item() == pytest.approx(k, rel=1e-6)
    g = (a0.abs().square() / total).double().numpy()
    assert stats.kstest(g, stats.ncx2(df=2, nc=2 * k, scale=1 / (2 * (k + 1))).cdf).pvalue > 1e-3
    assert a0.mean().abs().item() < 0.02  # uniform specular phase per example


def test_doppler_gives_clarke_time_correlation() -> None:
    """Rayleigh taps: E[a(t + dt) a*(t)] = p J0(2 pi f_D dt); the LOS part rotates at 0.7 f_D."""
    f_d, step = 2000.0, 35.7e-6
    tdl = TDL("D", max_doppler_hz=f_d)
    taps = tdl(20_000, 14, step, gen())  # [B, T, L]
    dt = np.arange(14) * step
    j0 = torch.special.bessel_j0(torch.from_numpy(2 * np.pi * f_d * dt)).numpy()
    assert j0.min() < 0  # the lags reach past the first zero of J0

    def corr(tap: int) -> np.ndarray:
        a = taps[:, :, tap]
        return np.array([(a[:, lag:] * a[:, : 14 - lag].conj()).mean().item() for lag in range(14)])

    np.testing.assert_allclose(corr(1) / tdl.powers[1].item(), j0, atol=0.04)
    p0 = tdl.powers[0].item()
    first = tdl.los_power * np.exp(2j * np.pi * 0.7 * f_d * dt) + p0 * j0
    np.testing.assert_allclose(corr(0), first, atol=0.02)
    static = TDL("A")(8, 14, step, gen())
    assert torch.equal(static, static[:, :1].expand_as(static))  # no Doppler: constant over time


def test_taps_drawn_per_example_and_reproducible() -> None:
    tdl = TDL("C")
    a, b = tdl(32, 2, 1e-4, gen(3)), tdl(32, 2, 1e-4, gen(3))
    assert torch.equal(a, b) and not torch.equal(a, tdl(32, 2, 1e-4, gen(4)))
    assert torch.unique(torch.view_as_real(a[:, 0, 0]), dim=0).shape[0] == 32


def test_bad_tdl_options_give_one_line_errors() -> None:
    for kwargs, pattern in (
        ({"model": "F"}, r"unknown TDL profile 'F'; choose one of: A, B, C, D, E"),
        ({"delay_spread_ns": 0.0}, r"delay_spread_ns must be a finite number > 0, got 0.0"),
        ({"delay_spread_ns": -30}, r"delay_spread_ns must be a finite number > 0, got -30"),
        ({"max_doppler_hz": -1.0}, r"max_doppler_hz must be a finite number >= 0, got -1.0"),
    ):
        with pytest.raises(ValueError, match=pattern) as err:
            TDL(**kwargs)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="delay_spread_ns"):
        channels.get("tdl-b", delay_spread_ns=-1)
