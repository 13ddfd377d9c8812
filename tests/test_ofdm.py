"""OFDM over TDL channels: grid mapping, noise convention, time vs frequency domain, channel
estimation and equalisation, BER and capacity against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import channels
from channels.ofdm import OFDMChannel, ofdm_time_domain
from channels.tdl import TDL, TDLProfile
from semcomm.digital import QAMDemapper, QAMMapper, fading_ber, hard_decisions


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def unit_symbols(shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    return channels.normalize_power(torch.randn(shape, dtype=torch.complex64, generator=gen(seed)))


def small(model: str = "A", **kwargs: object) -> OFDMChannel:
    """A small grid: 16 subcarriers (pilots on 0, 2, ..., 14), 4 symbols, pilots in symbols 1 and 3."""
    options = {"num_subcarriers": 16, "num_symbols": 4, "pilot_symbols": (1, 3), **kwargs}
    return channels.get(f"tdl-{model.lower()}", **options)


# ---------------------------------------------------------------- grid and mapping


def test_registry_defaults() -> None:
    assert {"tdl-a", "tdl-b", "tdl-c", "tdl-d", "tdl-e"} <= set(channels.names())
    ch = channels.get("tdl-c")
    assert isinstance(ch, channels.OFDMChannel) and isinstance(ch, channels.Channel) and ch.name == "tdl-c"
    assert (ch.tdl.delay_spread_ns, ch.tdl.max_doppler_hz, ch.domain) == (300.0, 0.0, "freq")
    grid = ch.grid
    assert (grid.num_subcarriers, grid.num_symbols, grid.subcarrier_spacing) == (128, 14, 30e3)
    assert (grid.pilot_symbols, grid.pilot_spacing, grid.num_pilots, grid.num_data) == ((2, 11), 2, 128, 1664)
    # Default CP: the shortest that covers the largest delay (8.6523 x 300 ns at 3.84 MHz = 9.97 samples).
    assert grid.cp_len == 10 and grid.symbol_duration == pytest.approx(138 / 3.84e6)
    assert ch.csi_modes == channels.CSI_MODES == ("perfect", "ls", "lmmse", "none")
    assert channels.get("awgn").csi_modes == ("perfect", "none")
    # The default band is frequency-selective: TDL-C at 300 ns decorrelates across 128 subcarriers.
    h = ch(torch.ones(2000, 128, dtype=torch.complex64), 30.0, generator=gen()).h
    assert (h[:, 0] * h[:, 127].conj()).mean().abs().item() < 0.1


def test_data_fills_non_pilot_res_in_order_and_comes_back_in_shape() -> None:
    ch = small()
    grid = ch.grid
    assert (grid.num_pilots, grid.num_data) == (16, 48)
    pilot_rows = grid.pilot_index // 16
    assert set(pilot_rows.tolist()) == {1, 3} and torch.equal(grid.pilot_index % 16 % 2, torch.zeros(16, dtype=torch.long))
    assert torch.allclose(grid.pilot_values.abs(), torch.ones(16))
    # 2 x 30 = 60 symbols: slot 0 full (48), slot 1 holds 12 and 36 padded REs.
    x = torch.arange(1, 61, dtype=torch.float32).to(torch.complex64).reshape(1, 2, 30)
    tx = grid.map(torch.nn.functional.pad(x.reshape(1, 60), (0, 36)).reshape(1, 2, 48))
    assert tx.shape == (1, 8, 16)
    first_slot = tx[0, :4].flatten()
    assert torch.equal(first_slot[grid.data_index], torch.arange(1, 49, dtype=torch.float32).to(torch.complex64))
    assert torch.equal(first_slot[:16].real, torch.arange(1, 17, dtype=torch.float32))  # symbol 0: data only
    assert torch.equal(first_slot[grid.pilot_index], grid.pilot_values)
    out = ch(x, 200.0, generator=gen())  # no noise to speak of
    assert out.y.shape == out.h.shape == x.shape and out.noise_var.shape == (1, 1, 1)
    assert out.y_pilot.shape == out.h_pilot.shape == (1, 2, 16)
    assert torch.allclose(out.y, out.h * x, atol=1e-5)
    assert torch.allclose(out.y_pilot, out.h_pilot * grid.pilot_values, atol=1e-5)


def test_noise_is_n0_per_data_re_and_per_example() -> None:
    snr = torch.tensor([0.0, 10.0, 20.0, -5.0])
    x = unit_symbols((4, 20_000))
    out = channels.get("tdl-b")(x, snr, generator=gen())
    noise = out.y - out.h * x
    assert torch.allclose(noise.abs().square().mean(dim=1), 10 ** (-snr / 10), rtol=0.03)
    assert noise.real.square().mean(dim=1) / noise.abs().square().mean(dim=1) == pytest.approx(
        torch.full((4,), 0.5), abs=0.02
    )  # N0 / 2 on each of I and Q


@pytest.mark.parametrize("model", ["A", "D"])
def test_per_re_gain_follows_power_gain_and_capacity(model: str) -> None:
    ch = channels.get(f"tdl-{model.lower()}")
    h = ch(torch.ones(4000, 64, dtype=torch.complex64), 10.0, generator=gen()).h
    g = h.abs().square().double()
    assert stats.kstest(g[:, 0].numpy(), ch.power_gain.cdf).pvalue > 1e-3  # one RE per example
    for snr_db in (0.0, 10.0, 20.0):
        per_example = torch.log2(1 + 10 ** (snr_db / 10) * g).mean(dim=1)  # REs of one example correlate
        ci = 4 * per_example.std().item() / math.sqrt(len(per_example))
        assert per_example.mean().item() == pytest.approx(float(channels.ergodic_capacity(snr_db, ch.power_gain)), abs=ci)
    if model == "A":
        assert np.allclose(channels.ergodic_capacity([0.0, 20.0], ch.power_gain), channels.rayleigh_ergodic_capacity([0.0, 20.0]))


def test_fading_drawn_per_example_and_reproducible() -> None:
    ch = small("C")
    x = unit_symbols((32, 40))
    a, b, c = ch(x, 10.0, generator=gen(7)), ch(x, 10.0, generator=gen(7)), ch(x, 10.0, generator=gen(8))
    assert torch.equal(a.y, b.y) and torch.equal(a.h, b.h) and not torch.equal(a.h, c.h)
    assert torch.unique(torch.view_as_real(a.h[:, 0]), dim=0).shape[0] == 32
    assert not torch.allclose(a.h[:, 0], a.h[:, 5])  # frequency-selective within an example


@pytest.mark.parametrize("domain", ["freq", "time"])
def test_gradient_reaches_input(domain: str) -> None:
    x = unit_symbols((4, 40)).requires_grad_(True)
    out = small(domain=domain)(x, 5.0, generator=gen())
    out.y.abs().square().sum().backward()
    assert torch.allclose(x.grad, 2 * out.h.conj() * out.y.detach(), atol=1e-4)


# ---------------------------------------------------------------- time domain with CP


def test_time_domain_with_cp_equals_frequency_domain() -> None:
    # A profile with sample-spaced delays (fs = 16 x 30 kHz = 480 kHz): 0, 1, 3 samples.
    fs = 16 * 30e3
    profile = TDLProfile("onsample", (0.0, 1.0, 3.0), (0.0, -3.0, -6.0))
    tdl = TDL(profile, delay_spread_ns=1e9 / fs, max_doppler_hz=3000.0)  # taps change between symbols
    freq = OFDMChannel(tdl, num_subcarriers=16, num_symbols=4, pilot_symbols=(1, 3))
    time = OFDMChannel(tdl, num_subcarriers=16, num_symbols=4, pilot_symbols=(1, 3), domain="time")
    assert freq.grid.cp_len == time.grid.cp_len == 3
    x = unit_symbols((8, 100))
    a, b = freq(x, 200.0, generator=gen()), time(x, 200.0, generator=gen())
    assert torch.allclose(a.h, b.h, atol=1e-6)
    assert torch.allclose(a.y, b.y, atol=1e-5) and torch.allclose(a.y_pilot, b.y_pilot, atol=1e-5)
    assert not torch.allclose(a.h.reshape(8, -1)[:, 0], a.h.reshape(8, -1)[:, 60])  # Doppler: a later slot differs
    # Noise: N0 per time sample is N0 per RE after the unitary FFT.
    x2 = unit_symbols((64, 2000))
    noisy = time(x2, 10.0, generator=gen())
    assert (noisy.y - noisy.h * x2).abs().square().mean().item() == pytest.approx(0.1, rel=0.03)


def test_time_domain_without_enough_cp_has_isi() -> None:
    grid = unit_symbols((4, 6, 16))
    taps = torch.zeros(4, 6, 4, dtype=torch.complex64)
    taps[..., 0], taps[..., 3] = 0.8, 0.6  # lags 0 and 3 samples
    response = torch.fft.fftshift(torch.fft.fft(taps, n=16), dim=-1)  # H at the centred subcarriers
    zero = torch.zeros(4)
    for cp, equal in ((3, True), (2, False)):
        y = ofdm_time_domain(grid, taps, torch.arange(4), cp, zero)
        assert torch.allclose(y, response * grid, atol=1e-5) == equal


def test_tdl_in_time_domain_uses_sampled_delays() -> None:
    ch = channels.get("tdl-a", num_subcarriers=32, domain="time")
    x = unit_symbols((4, 400))
    out = ch(x, 200.0, generator=gen())
    assert torch.allclose(out.y, out.h * x, atol=1e-4)  # the reported h is the sampled channel's response
    lags = torch.round(ch.tdl.delays_s * ch.grid.sample_rate)
    phase = -2 * math.pi * lags[:, None] / 32 * torch.arange(-16, 16)
    assert torch.allclose(ch.phasors, torch.polar(torch.ones_like(phase), phase).to(torch.complex64), atol=1e-5)


def test_cp_shorter_than_the_profile_is_refused() -> None:
    with pytest.raises(ValueError) as err:
        channels.get("tdl-a", cp_len=4)
    message = str(err.value)
    assert "\n" not in message and "cp_len=4" in message and "cp_len >= 12" in message
    for kwargs, pattern in (
        ({"num_subcarriers": 15}, "num_subcarriers must be even, got 15"),
        ({"pilot_symbols": (14,)}, r"pilot_symbols must be distinct OFDM symbol indices in \[0, 14\)"),
        ({"pilot_symbols": ()}, "at least one"),
        ({"pilot_spacing": 0}, "pilot_spacing must be an integer >= 1, got 0"),
        ({"domain": "delay"}, "unknown domain 'delay'; choose one of: freq, time"),
        ({"fft": 64}, "bad options for channel 'tdl-a'"),
    ):
        with pytest.raises(ValueError, match=pattern):
            channels.get("tdl-a", **kwargs)


# ---------------------------------------------------------------- estimation and equalisation


def test_ls_error_is_n0_at_pilots_and_as_predicted_at_data() -> None:
    snr_db = 5.0
    x = unit_symbols((1000, 1664))
    out = channels.get("tdl-a")(x, snr_db, generator=gen())
    z = out.y_pilot / out.estimator.pilot_values
    assert (z - out.h_pilot).abs().square().mean().item() == pytest.approx(10 ** (-snr_db / 10), rel=0.02)
    for csi in ("ls", "lmmse"):
        est = channels.estimate(out, csi)
        mse = (est.h_hat - out.h).abs().square().mean(dim=0)  # per data RE
        assert mse.mean().item() == pytest.approx(est.error_var.mean().item(), rel=0.05)
        assert torch.corrcoef(torch.stack([mse, est.error_var[0]]))[0, 1] > 0.5  # follows the RE position


@pytest.mark.parametrize("model", ["A", "D"])
def test_lmmse_beats_ls_at_low_snr(model: str) -> None:
    ch = channels.get(f"tdl-{model.lower()}", max_doppler_hz=300.0)
    x = unit_symbols((300, 1664))
    mse = {}
    for snr_db in (0.0, 25.0):
        out = ch(x, snr_db, generator=gen())
        mse[snr_db] = {csi: (channels.estimate(out, csi).h_hat - out.h).abs().square().mean().item() for csi in ("ls", "lmmse")}
    assert mse[0.0]["lmmse"] < mse[0.0]["ls"] / 2
    assert mse[25.0]["lmmse"] <= mse[25.0]["ls"] * 1.05
    assert mse[25.0]["ls"] < mse[0.0]["ls"] / 10


def test_receive_modes_on_ofdm() -> None:
    x = unit_symbols((300, 1000))
    out = channels.get("tdl-c")(x, 10.0, generator=gen())
    assert torch.equal(channels.receive(out, "none").x_hat, out.y)
    assert torch.allclose(channels.receive(out, "perfect").x_hat, out.y / out.h)
    for csi in ("perfect", "ls", "lmmse"):
        zf, mmse = channels.receive(out, csi, "zf"), channels.receive(out, csi, "mmse")
        assert zf.noise_var.shape == mmse.noise_var.shape == x.shape
        # MMSE reports its MSE (the JSCC decoder's reliability); estimation error is included.
        measured = (mmse.x_hat - x).abs().square().mean().item()
        assert measured == pytest.approx(torch.broadcast_to(mmse.noise_var, x.shape).mean().item(), rel=0.06)
        # ZF: the normalised residual is unit-variance noise.
        z = (zf.x_hat - x) / zf.noise_var.sqrt()
        assert z.abs().square().mean().item() == pytest.approx(1.0, rel=0.06)


def test_estimated_csi_needs_an_ofdm_channel() -> None:
    out = channels.RayleighBlock()(unit_symbols((4, 8)), 10.0, generator=gen())
    for csi in ("ls", "lmmse"):
        with pytest.raises(ValueError, match=f"CSI mode '{csi}' estimates the channel from pilots and needs an OFDM channel") as err:
            channels.receive(out, csi)
        assert "\n" not in str(err.value)
        with pytest.raises(ValueError, match="'rayleigh-block' supports: perfect, none"):
            channels.check_csi(csi, channels.RayleighBlock())
    assert channels.check_csi("lmmse", channels.get("tdl-a")) == "lmmse"


@pytest.mark.parametrize(("model", "snr_db"), [("A", 0.0), ("A", 10.0), ("E", 10.0)])
def test_qpsk_ber_with_perfect_csi_equals_flat_fading_closed_form(model: str, snr_db: float) -> None:
    ch = channels.get(f"tdl-{model.lower()}")
    bits = torch.randint(0, 2, (800, 2 * 1664), generator=gen(2))
    x = QAMMapper("qpsk")(bits)
    rx = channels.receive(ch(x, snr_db, generator=gen()), "perfect")
    errors = (hard_decisions(QAMDemapper("qpsk")(rx.x_hat, rx.noise_var)) != bits.bool()).double().mean(dim=1)
    ci = 4 * errors.std().item() / math.sqrt(len(errors))  # per-example spread: REs of a slot correlate
    assert errors.mean().item() == pytest.approx(float(fading_ber("qpsk", snr_db, ch.power_gain)), abs=ci)
