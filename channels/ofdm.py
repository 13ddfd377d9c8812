"""OFDM over a TDL multipath channel: resource grid, pilots, and the per-subcarrier channel.

A transmission is a run of slots of ``num_symbols`` OFDM symbols x ``num_subcarriers``
subcarriers (all subcarriers carry signal: no guard band, no DC null). The subcarriers sit at
``f_k = k * spacing`` for ``k = -N/2 ... N/2 - 1`` around the carrier (Sionna's
``subcarrier_frequencies``) and are stored in that order along the last grid axis.

Pilots: the OFDM symbols ``pilot_symbols`` of every slot carry a pilot on every
``pilot_spacing``-th subcarrier (``0, s, 2s, ...``; comb-type, or block-type with spacing 1),
the same in every pilot symbol; pilot values are a unit-modulus chirp
``exp(-j pi n^2 / P)`` known to the receiver. Every other resource element (RE) carries data.

Mapping: an input ``[B, ..., k]`` is flattened row-major after the batch axis to ``[B, K]`` and
fills the data REs of slot 0, then slot 1, ..., each slot in the order (OFDM symbol, subcarrier);
the tail of the last slot is padded with zeros and dropped at the receiver. ``y`` and ``h`` come
back in the shape of the input.

Channel (frequency domain, ``domain="freq"``, the default): per RE ``y = H x + n`` with
``H[t, k] = sum_l a_l(t) exp(-j 2 pi f_k tau_l)`` (the exact response of the TDL at the
subcarrier frequencies, as Sionna's ``cir_to_ofdm_channel``), ``n ~ CN(0, N0)`` and
``N0 = 10^(-SNR/10)``: SNR is Es/N0 per data RE exactly as in :mod:`channels.conventions`.
Taps are constant within an OFDM symbol (no inter-carrier interference) and change between
symbols if the TDL has Doppler. This model presumes no inter-symbol interference, so the
cyclic prefix must cover the largest tap delay: ``cp_len >= ceil(tau_max * fs)`` samples at
``fs = N * spacing``, else ``ValueError``.

Time domain (``domain="time"``): unitary IFFT of every OFDM symbol, cyclic prefix, convolution
of the sample stream with the sampled taps (each tap moved to the nearest sample,
``round(tau_l fs)``), noise ``CN(0, N0)`` per sample, CP removal, unitary FFT. Both
transforms are unitary (``norm="ortho"``): a unit-energy RE gives unit average sample power,
and white noise of ``N0`` per sample is ``N0`` per RE after the FFT, so the Es/N0 per RE is
the same as in the frequency domain (the CP's extra transmit energy, a factor ``(N + cp)/N``,
is not counted, as usual for Es/N0 per RE). With the CP covering the taps this equals the
frequency-domain channel with the sampled delays, which is the ``h`` it reports (tested).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from channels.base import (
    CSI_MODES,
    Channel,
    ChannelOutput,
    _count,
    _positive,
    awgn_noise,
    check_input,
    per_example_noise_var,
)
from channels.estimation import PilotEstimator
from channels.tdl import TDL, TDLProfile

__all__ = ["OFDMChannel", "OFDMChannelOutput", "ResourceGrid", "ofdm_time_domain", "tdl_channel"]

Domain = Literal["freq", "time"]


class ResourceGrid(nn.Module):
    """One slot's layout: which REs carry pilots (and their values) and which carry data.

    Args:
        num_subcarriers: ``N``, also the FFT size (>= 2, even).
        num_symbols: ``S``, OFDM symbols per slot.
        subcarrier_spacing_khz: subcarrier spacing in kHz.
        cp_len: cyclic prefix in samples at ``fs = N * spacing``; None = the shortest that
            covers ``max_delay_s``, ``ceil(max_delay_s * fs)``.
        pilot_symbols: indices of the OFDM symbols that carry pilots (at least one).
        pilot_spacing: a pilot on every ``pilot_spacing``-th subcarrier of a pilot symbol.
        max_delay_s: the channel's largest delay in seconds, which the CP must cover.

    Attributes:
        frequencies: subcarrier frequencies in Hz, float64 ``[N]``.
        pilot_index, data_index: flat RE positions ``t * N + k`` within a slot, ``[P]`` and
            ``[D]``, ascending.
        pilot_values: known pilots, complex64 ``[P]``, ``|p| = 1``.
    """

    def __init__(
        self,
        num_subcarriers: int = 128,
        num_symbols: int = 14,
        subcarrier_spacing_khz: float = 30.0,
        cp_len: int | None = None,
        pilot_symbols: tuple[int, ...] = (2, 11),
        pilot_spacing: int = 2,
        max_delay_s: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_subcarriers = _count("num_subcarriers", num_subcarriers, 2)
        if num_subcarriers % 2:
            raise ValueError(f"num_subcarriers must be even, got {num_subcarriers}")
        self.num_symbols = _count("num_symbols", num_symbols, 1)
        self.pilot_spacing = _count("pilot_spacing", pilot_spacing, 1)
        self.subcarrier_spacing = 1e3 * _positive("subcarrier_spacing_khz", subcarrier_spacing_khz)
        if not (math.isfinite(max_delay_s) and max_delay_s * self.sample_rate <= num_subcarriers):
            raise ValueError(
                f"the channel's largest delay ({max_delay_s * 1e6:.3g} us) is longer than an OFDM symbol "
                f"({num_subcarriers / self.sample_rate * 1e6:.3g} us at {subcarrier_spacing_khz:g} kHz): no cyclic prefix "
                "can cover it; lower the delay spread"
            )
        needed = math.ceil(max_delay_s * self.sample_rate - 1e-6)
        self.cp_len = needed if cp_len is None else _count("cp_len", cp_len, 0)
        if self.cp_len < needed:
            raise ValueError(
                f"cp_len={cp_len} samples is shorter than the channel's largest delay ({max_delay_s * 1e6:.3g} us = "
                f"{max_delay_s * self.sample_rate:.2f} samples at {self.sample_rate / 1e6:.3g} MHz); "
                f"use cp_len >= {needed}, or None for the shortest that covers it"
            )
        symbols = tuple(pilot_symbols)
        if not symbols or len(set(symbols)) != len(symbols) or not all(
            isinstance(t, int) and 0 <= t < num_symbols for t in symbols
        ):
            raise ValueError(f"pilot_symbols must be distinct OFDM symbol indices in [0, {num_symbols}), at least one, got {pilot_symbols!r}")
        self.pilot_symbols = tuple(sorted(symbols))
        self.pilot_subcarriers = tuple(range(0, num_subcarriers, pilot_spacing))
        mask = torch.zeros(num_symbols, num_subcarriers, dtype=torch.bool)
        mask[torch.tensor(self.pilot_symbols)[:, None], torch.tensor(self.pilot_subcarriers)] = True
        flat = mask.flatten()
        self.register_buffer("pilot_index", flat.nonzero().squeeze(1), persistent=False)
        self.register_buffer("data_index", (~flat).nonzero().squeeze(1), persistent=False)
        # Source of every RE when data [D] and pilots [P] are concatenated: the mapping is a gather.
        source = torch.empty(flat.numel(), dtype=torch.long)
        source[self.data_index] = torch.arange(self.num_data)
        source[self.pilot_index] = self.num_data + torch.arange(self.num_pilots)
        self.register_buffer("source", source, persistent=False)
        n = torch.arange(len(self.pilot_subcarriers), dtype=torch.float64)
        chirp = torch.polar(torch.ones_like(n), -math.pi * n * n / len(n)).to(torch.complex64)
        self.register_buffer("pilot_values", chirp.repeat(len(self.pilot_symbols)), persistent=False)
        k = torch.arange(-(num_subcarriers // 2), num_subcarriers // 2, dtype=torch.float64)
        self.register_buffer("frequencies", k * self.subcarrier_spacing, persistent=False)

    @property
    def num_pilots(self) -> int:
        """``P``, pilot REs per slot."""
        return len(self.pilot_symbols) * len(self.pilot_subcarriers)

    @property
    def num_data(self) -> int:
        """``D``, data REs per slot."""
        return self.num_symbols * self.num_subcarriers - self.num_pilots

    @property
    def sample_rate(self) -> float:
        """``fs = N * spacing`` in Hz."""
        return self.num_subcarriers * self.subcarrier_spacing

    @property
    def symbol_duration(self) -> float:
        """One OFDM symbol with its cyclic prefix, ``(N + cp) / fs`` seconds."""
        return (self.num_subcarriers + self.cp_len) / self.sample_rate

    def map(self, data: torch.Tensor) -> torch.Tensor:
        """Data ``[B, n, D]`` (``n`` slots) -> transmit grid ``[B, n S, N]`` with the pilots inserted."""
        batch, slots = data.shape[:2]
        pilots = self.pilot_values.to(data.dtype).expand(batch, slots, self.num_pilots)
        return torch.cat([data, pilots], dim=-1)[..., self.source].reshape(batch, slots * self.num_symbols, -1)

    def split(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Grid ``[B, n S, N]`` -> (data REs ``[B, n, D]``, pilot REs ``[B, n, P]``)."""
        per_slot = grid.reshape(grid.shape[0], -1, self.num_symbols * self.num_subcarriers)
        return per_slot[..., self.data_index], per_slot[..., self.pilot_index]

    def extra_repr(self) -> str:
        return (
            f"num_subcarriers={self.num_subcarriers}, num_symbols={self.num_symbols}, "
            f"subcarrier_spacing_khz={self.subcarrier_spacing / 1e3}, cp_len={self.cp_len}, "
            f"pilot_symbols={self.pilot_symbols}, pilot_spacing={self.pilot_spacing}"
        )


@dataclass(frozen=True)
class OFDMChannelOutput(ChannelOutput):
    """A :class:`ChannelOutput` (``y``, ``h`` per data symbol in the shape of ``y``, ``noise_var``
    ``[B, 1, ..., 1]``) plus what a pilot-based receiver needs.

    Attributes:
        y_pilot: received pilot REs, complex ``[B, n, P]`` (``n`` slots, ``P`` pilots per slot).
        h_pilot: true channel at the pilot REs, complex ``[B, n, P]`` (for genie analyses).
        estimator: the channel's LS/LMMSE estimator (:class:`~channels.estimation.PilotEstimator`).
    """

    y_pilot: torch.Tensor
    h_pilot: torch.Tensor
    estimator: PilotEstimator


def to_input_shape(t: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Per-slot REs ``[B, n, D]`` (in the mapping order) -> the input's ``shape`` ``[B, ..., k]``,
    dropping the zero padding of the last slot."""
    return t.reshape(t.shape[0], -1)[:, : math.prod(shape[1:])].reshape(shape)


def ofdm_time_domain(
    grid: torch.Tensor,
    taps: torch.Tensor,
    lags: torch.Tensor,
    cp_len: int,
    noise_var: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """CP-OFDM through a sample-spaced multipath channel, in the time domain.

    Args:
        grid: transmit REs, complex ``[B, T, N]`` (``T`` OFDM symbols, centred subcarrier order).
        taps: channel taps, complex ``[B, T, L]``, constant within an OFDM symbol (a sample is
            convolved with the taps of the symbol it arrives in).
        lags: integer delay of every tap in samples, ``[L]`` (taps may share a lag).
        cp_len: cyclic prefix in samples; ``cp_len >= max(lags)`` avoids inter-symbol interference.
        noise_var: N0 per sample (and per RE), float ``[B]``.
        generator: fixes the noise.

    Returns:
        Received REs ``[B, T, N]`` after CP removal and the (unitary) FFT.
    """
    batch, symbols, n = grid.shape
    s = torch.fft.ifft(torch.fft.ifftshift(grid, dim=-1), norm="ortho")
    stream = torch.cat([s[..., n - cp_len :], s], dim=-1).reshape(batch, -1)  # [B, T (N + cp)]

    def delayed(lag: int) -> torch.Tensor:  # the stream delayed by ``lag`` samples, [B, T, N + cp]
        return F.pad(stream, (lag, 0))[:, : stream.shape[1]].reshape(batch, symbols, n + cp_len)

    # Taps that share a lag add up: one delayed copy of the stream per distinct lag, scaled per OFDM symbol.
    distinct, which = lags.unique(return_inverse=True)
    lag_taps = taps @ F.one_hot(which, len(distinct)).to(taps.dtype)  # [B, T, distinct lags]
    received = sum(lag_taps[..., i, None] * delayed(lag) for i, lag in enumerate(distinct.tolist()))
    received = received + awgn_noise(received.shape, noise_var[:, None, None], generator, received.dtype, received.device)
    return torch.fft.fftshift(torch.fft.fft(received[..., cp_len:], norm="ortho"), dim=-1)


class OFDMChannel(Channel):
    """A TDL channel seen through CP-OFDM with pilots (see the module docstring).

    Call ``out = ch(x, snr_db, generator=g)`` with ``x`` complex ``[B, ..., k]``; returns an
    :class:`OFDMChannelOutput`. Every example gets its own channel (and, with Doppler, its
    own channel evolution over the OFDM symbols of its ``ceil(K / D)`` slots).

    Args:
        tdl: the tap model (:class:`~channels.tdl.TDL`).
        domain: ``"freq"`` (per-subcarrier model, exact delays) or ``"time"`` (IFFT, CP,
            sample-spaced convolution, FFT).
        **grid_options: the options of :class:`ResourceGrid`, with its defaults:
            ``num_subcarriers``, ``num_symbols``, ``subcarrier_spacing_khz``, ``cp_len`` (None =
            the shortest that covers the largest delay), ``pilot_symbols``, ``pilot_spacing``;
            ``max_delay_s`` is the TDL's.

    Attributes:
        grid: the :class:`ResourceGrid`.

    Raises:
        ValueError: on a cyclic prefix shorter than the largest delay, or a bad grid option.
    """

    csi_modes = CSI_MODES

    def __init__(self, tdl: TDL, domain: Domain = "freq", **grid_options: Any) -> None:
        super().__init__()
        if domain not in ("freq", "time"):
            raise ValueError(f"unknown domain {domain!r}; choose one of: freq, time")
        self.tdl, self.domain = tdl, domain
        self.name = f"tdl-{tdl.profile.name.lower()}"
        try:
            self.grid = ResourceGrid(max_delay_s=tdl.max_delay_s, **grid_options)
        except ValueError as err:
            if "no cyclic prefix can cover it" not in str(err):
                raise
            longest = max(tdl.profile.delays)  # in units of the delay spread
            spacing_khz = grid_options.get("subcarrier_spacing_khz",
                                           inspect.signature(ResourceGrid).parameters["subcarrier_spacing_khz"].default)
            symbol_s = 1.0 / (1e3 * float(spacing_khz))  # type: ignore[arg-type]
            raise ValueError(f"delay_spread_ns={tdl.delay_spread_ns:g} is too long for this OFDM numerology: {err}; "
                             f"at most {symbol_s / longest * 1e9:.4g} ns") from None
        if tdl.max_doppler_hz > self.grid.subcarrier_spacing:
            raise ValueError(f"max_doppler_hz={tdl.max_doppler_hz:g} exceeds the subcarrier spacing "
                             f"({self.grid.subcarrier_spacing:g} Hz): the OFDM model (no inter-carrier interference) "
                             f"holds far below it; at most {self.grid.subcarrier_spacing:g} Hz")
        delays = tdl.delays_s
        if domain == "time":
            lags = torch.round(delays * self.grid.sample_rate).long()
            self.register_buffer("lags", lags, persistent=False)  # [L], in samples
            delays = lags.double() / self.grid.sample_rate
        phasors = torch.polar(torch.ones(len(delays), self.grid.num_subcarriers, dtype=torch.float64),
                              -2 * math.pi * delays[:, None] * self.grid.frequencies)  # [L, N]
        self.register_buffer("phasors", phasors.to(torch.complex64), persistent=False)
        # Second-order statistics of H over one slot, which the LMMSE estimator assumes known.
        freq_cov = (phasors.T * tdl.powers) @ phasors.conj()  # [N, N], Rayleigh parts
        times = torch.arange(self.grid.num_symbols, dtype=torch.float64) * self.grid.symbol_duration
        rayleigh_t, los_t = tdl.time_correlation(times[:, None] - times[None, :])
        self.estimator = PilotEstimator(self.grid, freq_cov, rayleigh_t.to(torch.complex128), tdl.los_power, los_t)

    @property
    def power_gain(self) -> stats.rv_continuous:
        """Distribution of ``|H|^2`` on any RE: ``Exp(1)`` for TDL-A/B/C, Rician for D/E
        (see :attr:`channels.tdl.TDL.power_gain`)."""
        return self.tdl.power_gain

    def forward(
        self, x: torch.Tensor, snr_db: float | torch.Tensor, generator: torch.Generator | None = None
    ) -> OFDMChannelOutput:
        """Send ``x`` (complex ``[B, ..., k]``, ``E|x|^2 = 1``) at ``snr_db`` (Es/N0 per RE, number or ``[B]``)."""
        check_input(x)
        batch, total = x.shape[0], math.prod(x.shape[1:])
        grid = self.grid
        slots = -(-total // grid.num_data)
        noise_var = per_example_noise_var(snr_db, x)  # [B, 1, ..., 1]
        taps = self.tdl(batch, slots * grid.num_symbols, grid.symbol_duration, generator, x.dtype)  # [B, T, L]
        h_data, h_pilot = grid.split(taps @ self.phasors.to(x.dtype))  # H on the [B, T, N] grid, split
        data = F.pad(x.reshape(batch, total), (0, slots * grid.num_data - total)).reshape(batch, slots, -1)
        if self.domain == "freq":  # per RE: no need to assemble the grid
            shape = (batch, slots, grid.num_data + grid.num_pilots)
            noise = awgn_noise(shape, noise_var.reshape(batch, 1, 1), generator, x.dtype, x.device)
            y_data = h_data * data + noise[..., : grid.num_data]
            y_pilot = h_pilot * grid.pilot_values.to(x.dtype) + noise[..., grid.num_data :]
        else:
            received = ofdm_time_domain(grid.map(data), taps, self.lags, grid.cp_len, noise_var.reshape(batch), generator)
            y_data, y_pilot = grid.split(received)
        return OFDMChannelOutput(
            y=to_input_shape(y_data, x.shape),
            h=to_input_shape(h_data, x.shape),
            noise_var=noise_var,
            y_pilot=y_pilot,
            h_pilot=h_pilot,
            estimator=self.estimator,
        )

    def extra_repr(self) -> str:
        return f"domain={self.domain!r}"


def tdl_channel(
    model: str | TDLProfile = "A",
    delay_spread_ns: float = 300.0,
    max_doppler_hz: float = 0.0,
    **ofdm_options: object,
) -> OFDMChannel:
    """``OFDMChannel(TDL(model, delay_spread_ns, max_doppler_hz), **ofdm_options)``: the factory
    behind the registry names ``tdl-a`` ... ``tdl-e``."""
    return OFDMChannel(TDL(model, delay_spread_ns, max_doppler_hz), **ofdm_options)  # type: ignore[arg-type]
