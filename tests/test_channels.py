"""The channels package against its conventions and closed-form theory."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats

import channels
from channels.conventions import ebno_db_to_esno_db, esno_db_to_ebno_db

ALL_CHANNELS = {
    "awgn": {},
    "rayleigh-block": {},
    "rayleigh-block/8": {"block_len": 8},
    "rayleigh-fast": {},
    "rician": {"k_factor": 3.0},
    "rician-fast-random-phase": {"k_factor": 3.0, "block_len": 1, "los_phase": None},
}


def make(label: str) -> channels.FlatChannel:
    name = label.split("/")[0].replace("-fast-random-phase", "")
    return channels.get(name, **ALL_CHANNELS[label])


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def unit_symbols(shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    return channels.normalize_power(torch.randn(shape, dtype=torch.complex64, generator=gen(seed)))


# ---------------------------------------------------------------- conventions / noise


def test_noise_variance_per_complex_symbol_and_per_real_dimension() -> None:
    """At 10 dB, N0 = 0.1: E|n|^2 = 0.1 and 0.05 on each of I and Q (not 0.1 each)."""
    x = torch.zeros(64, 50_000, dtype=torch.complex64)
    out = channels.AWGN()(x, 10.0, generator=gen())
    n = out.y
    assert torch.allclose(out.noise_var, torch.tensor(0.1))
    assert n.abs().square().mean().item() == pytest.approx(0.1, rel=0.01)
    assert n.real.square().mean().item() == pytest.approx(0.05, rel=0.01)
    assert n.imag.square().mean().item() == pytest.approx(0.05, rel=0.01)
    assert (n.real * n.imag).mean().item() == pytest.approx(0.0, abs=1e-3)  # circular


def test_per_example_snr_sets_per_example_noise() -> None:
    snr = torch.tensor([0.0, 10.0, 20.0, -5.0])
    x = torch.zeros(4, 200_000, dtype=torch.complex64)
    out = channels.AWGN()(x, snr, generator=gen())
    measured = out.y.abs().square().mean(dim=1)
    expected = 10 ** (-snr / 10)
    assert out.noise_var.shape == (4, 1)
    assert torch.allclose(measured, expected, rtol=0.02)


def test_snr_from_unit_power_signal() -> None:
    """A unit-power signal through AWGN at S dB gives measured Es/N0 = S dB."""
    x = unit_symbols((16, 20_000))
    out = channels.AWGN()(x, 7.0, generator=gen())
    measured = 10 * math.log10(1.0 / (out.y - x).abs().square().mean().item())
    assert measured == pytest.approx(7.0, abs=0.05)


def test_conversions_round_trip() -> None:
    assert channels.snr_db_to_noise_var(10.0) == pytest.approx(0.1)
    assert channels.noise_var_to_snr_db(0.01) == pytest.approx(20.0)
    t = torch.tensor([-10.0, 0.0, 30.0])
    assert torch.allclose(channels.noise_var_to_snr_db(channels.snr_db_to_noise_var(t)), t, atol=1e-4)
    # 16-QAM: Es = 4 Eb -> Es/N0 = Eb/N0 + 6.02 dB; rate-1/2 coded QPSK: Es = Eb.
    assert ebno_db_to_esno_db(10.0, 4) == pytest.approx(10.0 + 10 * math.log10(4))
    assert ebno_db_to_esno_db(3.0, 2, code_rate=0.5) == pytest.approx(3.0)
    assert esno_db_to_ebno_db(ebno_db_to_esno_db(4.2, 6, 0.75), 6, 0.75) == pytest.approx(4.2)


def test_normalize_power_per_example_and_per_row() -> None:
    x = torch.randn(5, 3, 40, dtype=torch.complex64) * torch.arange(1, 6).reshape(5, 1, 1)
    per_example = channels.normalize_power(x)
    assert torch.allclose(per_example.abs().square().mean(dim=(1, 2)), torch.ones(5), atol=1e-5)
    per_row = channels.normalize_power(x, dim=-1)
    assert torch.allclose(per_row.abs().square().mean(dim=-1), torch.ones(5, 3), atol=1e-5)
    # Each example keeps its own scale: normalising the batch as a whole would fail this.
    assert not torch.allclose(per_example[0] / x[0], per_example[4] / x[4])


# ---------------------------------------------------------------- fading statistics


@pytest.mark.parametrize("label", [k for k in ALL_CHANNELS if k != "awgn"])
def test_fading_unit_mean_power_and_distribution(label: str) -> None:
    ch = make(label)
    x = torch.ones(4000, 64, dtype=torch.complex64)
    h = torch.broadcast_to(ch(x, 20.0, generator=gen()).h, x.shape)
    assert h.abs().square().mean().item() == pytest.approx(1.0, abs=0.02)
    # |h|^2 follows the distribution the theory helpers integrate over.
    one_per_block = h[:, :: (ch.block_len or 64)].abs().square().flatten().numpy()[:20_000]
    assert stats.kstest(one_per_block, ch.power_gain.cdf).pvalue > 1e-3


@pytest.mark.parametrize("label", [k for k in ALL_CHANNELS if k != "awgn"])
def test_fading_drawn_per_example(label: str) -> None:
    out = make(label)(torch.ones(32, 16, dtype=torch.complex64), 10.0, generator=gen())
    first_symbol_gain = torch.broadcast_to(out.h, (32, 16))[:, 0]
    assert torch.unique(torch.view_as_real(first_symbol_gain), dim=0).shape[0] == 32


def test_block_fading_constant_inside_blocks() -> None:
    x = torch.ones(6, 3, 10, dtype=torch.complex64)  # 30 symbols per example, blocks of 8
    h = channels.RayleighBlock(block_len=8)(x, 10.0, generator=gen()).h
    assert h.shape == x.shape
    flat = h.reshape(6, 30)
    for start in range(0, 30, 8):
        block = flat[:, start : start + 8]
        assert torch.equal(block, block[:, :1].expand_as(block))
    assert not torch.equal(flat[:, 0], flat[:, 8])
    # block_len=None: one gain per example, across all middle axes (e.g. the layers of a JSCC code).
    h_static = channels.RayleighBlock()(x, 10.0, generator=gen()).h
    assert h_static.shape == (6, 1, 1)


def test_fast_fading_uncorrelated_across_symbols() -> None:
    h = channels.RayleighFast()(torch.ones(2000, 100, dtype=torch.complex64), 10.0, generator=gen()).h
    lag1 = (h[:, 1:] * h[:, :-1].conj()).mean().abs().item()
    assert lag1 < 0.01
    h_block = channels.RayleighBlock()(torch.ones(2000, 100, dtype=torch.complex64), 10.0, generator=gen()).h
    h_block = h_block.expand(2000, 100)
    assert (h_block[:, 1:] * h_block[:, :-1].conj()).mean().abs().item() == pytest.approx(1.0, abs=0.05)


def test_rician_los_component_and_phase() -> None:
    k = 4.0
    h = channels.Rician(k_factor=k)(torch.ones(100_000, 1, dtype=torch.complex64), 10.0, generator=gen()).h
    assert h.mean().real.item() == pytest.approx(math.sqrt(k / (k + 1)), abs=0.01)
    assert h.mean().imag.item() == pytest.approx(0.0, abs=0.01)
    h_rot = channels.Rician(k_factor=k, los_phase=math.pi / 2)(torch.ones(100_000, 1, dtype=torch.complex64), 10.0, generator=gen()).h
    assert h_rot.mean().imag.item() == pytest.approx(math.sqrt(k / (k + 1)), abs=0.01)
    h_rand = channels.Rician(k_factor=k, los_phase=None)(torch.ones(100_000, 1, dtype=torch.complex64), 10.0, generator=gen()).h
    assert h_rand.mean().abs().item() < 0.02


@pytest.mark.parametrize("label", list(ALL_CHANNELS))
def test_gradient_reaches_input(label: str) -> None:
    x = unit_symbols((4, 32)).requires_grad_(True)
    out = make(label)(x, 5.0, generator=gen())
    out.y.abs().square().sum().backward()
    # d|y|^2 / d conj(x) = 2 conj(h) y  (torch's convention for complex inputs).
    expected = 2 * torch.broadcast_to(out.h, x.shape).conj() * out.y.detach()
    assert torch.allclose(x.grad, expected, atol=1e-5)


@pytest.mark.parametrize("label", list(ALL_CHANNELS))
def test_same_seed_same_draws(label: str) -> None:
    x = unit_symbols((8, 16))
    a = make(label)(x, 3.0, generator=gen(7))
    b = make(label)(x, 3.0, generator=gen(7))
    c = make(label)(x, 3.0, generator=gen(8))
    assert torch.equal(a.y, b.y) and torch.equal(a.h, b.h)
    assert not torch.equal(a.y, c.y)


# ---------------------------------------------------------------- receiver


def test_zero_forcing_recovers_symbols_and_scales_noise() -> None:
    x = unit_symbols((3000, 8))
    out = channels.RayleighBlock()(x, 10.0, generator=gen())
    eq = channels.equalize(out, "zf")
    assert torch.allclose(eq.noise_var, out.noise_var / out.h.abs().square())
    # Normalised residual (x_hat - x) / sqrt(noise_var) is unit-variance noise.
    z = (eq.x_hat - x) / eq.noise_var.sqrt()
    assert z.abs().square().mean().item() == pytest.approx(1.0, rel=0.03)


def test_mmse_noise_var_is_its_mse() -> None:
    x = unit_symbols((20_000, 16))
    out = channels.RayleighBlock()(x, 0.0, generator=gen())
    eq = channels.equalize(out, "mmse")
    mse = (eq.x_hat - x).abs().square().mean().item()
    assert mse == pytest.approx(torch.broadcast_to(eq.noise_var, x.shape).mean().item(), rel=0.03)
    zf_mse = (channels.equalize(out, "zf").x_hat - x).abs().square().mean().item()
    assert mse < zf_mse  # MMSE beats ZF in MSE at low SNR


def test_csi_modes() -> None:
    x = unit_symbols((4, 8))
    out = channels.RayleighBlock()(x, 10.0, generator=gen())
    assert torch.equal(channels.receive(out, "none").x_hat, out.y)
    assert torch.allclose(channels.receive(out, "perfect").x_hat, out.y / out.h)
    with pytest.raises(ValueError, match="choose one of: perfect, none"):
        channels.receive(out, "estimated-by-magic")
    with pytest.raises(ValueError, match="zf, mmse"):
        channels.equalize(out, "ml")


# ---------------------------------------------------------------- capacity


def test_rayleigh_ergodic_capacity_monte_carlo_vs_closed_form() -> None:
    h = channels.RayleighFast()(torch.ones(1, 1_000_000, dtype=torch.complex64), 0.0, generator=gen()).h
    g = h.abs().square().double().numpy().ravel()
    for snr_db in (-5.0, 0.0, 10.0, 25.0):
        mc = np.log2(1 + 10 ** (snr_db / 10) * g).mean()
        assert mc == pytest.approx(channels.rayleigh_ergodic_capacity(snr_db), rel=5e-3)
    snrs = np.array([-20.0, 0.0, 15.0, 40.0])
    generic = channels.ergodic_capacity(snrs, channels.RayleighBlock().power_gain)
    assert np.allclose(generic, channels.rayleigh_ergodic_capacity(snrs), rtol=1e-6)
    # Jensen: fading costs capacity; at high SNR the gap tends to gamma_Euler * log2(e) bits.
    assert np.all(channels.rayleigh_ergodic_capacity(snrs) < channels.awgn_capacity(snrs))
    assert channels.awgn_capacity(60.0) - channels.rayleigh_ergodic_capacity(60.0) == pytest.approx(
        np.euler_gamma * np.log2(np.e), rel=1e-3
    )


def test_rician_capacity_between_rayleigh_and_awgn() -> None:
    snrs = np.array([0.0, 10.0, 20.0])
    c_k3 = channels.ergodic_capacity(snrs, channels.Rician(3.0).power_gain)
    assert np.all(c_k3 > channels.rayleigh_ergodic_capacity(snrs))
    assert np.all(c_k3 < channels.awgn_capacity(snrs))
    assert np.allclose(channels.ergodic_capacity(snrs, channels.Rician(0.0).power_gain), channels.rayleigh_ergodic_capacity(snrs), rtol=1e-5)
    assert np.allclose(channels.ergodic_capacity(snrs, channels.Rician(1e4).power_gain), channels.awgn_capacity(snrs), rtol=1e-3)


def test_outage_probability_monte_carlo_vs_closed_form() -> None:
    out = channels.RayleighBlock()(torch.ones(400_000, 4, dtype=torch.complex64), 0.0, generator=gen())
    g = out.h.abs().square().double().numpy().ravel()
    for rate, snr_db in ((1.0, 10.0), (2.0, 5.0), (0.5, 20.0)):
        closed = 1 - math.exp(-(2**rate - 1) / 10 ** (snr_db / 10))
        assert channels.rayleigh_outage_probability(rate, snr_db) == pytest.approx(closed)
        mc = np.mean(np.log2(1 + 10 ** (snr_db / 10) * g) < rate)
        assert mc == pytest.approx(closed, abs=4 * math.sqrt(closed * (1 - closed) / g.size) + 1e-4)
        assert channels.outage_probability(rate, snr_db, channels.RayleighBlock().power_gain) == pytest.approx(closed)
    assert channels.outage_probability(1.0, 10.0, None) == 0.0  # AWGN: rate below capacity never fails
    assert channels.outage_probability(4.0, 10.0, None) == 1.0


# ---------------------------------------------------------------- API hygiene


def test_registry_names_and_errors() -> None:
    assert set(channels.names()) >= {"awgn", "rayleigh-block", "rayleigh-fast", "rician"}
    assert isinstance(channels.get("rayleigh-fast"), channels.RayleighFast)
    with pytest.raises(ValueError) as err:
        channels.get("nope")
    assert "\n" not in str(err.value) and "'nope'" in str(err.value) and "rayleigh-block" in str(err.value)
    with pytest.raises(ValueError, match="bad options for channel 'awgn'"):
        channels.get("awgn", k_factor=3)
    with pytest.raises(ValueError, match="block_len"):
        channels.get("rayleigh-block", block_len=0)
    with pytest.raises(ValueError, match="k_factor"):
        channels.get("rician", k_factor=-1.0)


def test_bad_inputs_give_one_line_errors() -> None:
    ch = channels.AWGN()
    with pytest.raises(ValueError, match="complex tensor"):
        ch(torch.ones(4, 8), 10.0)
    with pytest.raises(ValueError, match=r"expected a scalar or \[B\] = \[4\]"):
        ch(torch.ones(4, 8, dtype=torch.complex64), torch.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        ch(torch.ones(4, 8, dtype=torch.complex64), float("nan"))


def test_channels_is_standalone() -> None:
    code = "import sys, channels; assert not any(m == 'semcomm' or m.startswith('semcomm.') for m in sys.modules), 'semcomm imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
