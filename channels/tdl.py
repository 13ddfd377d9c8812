"""3GPP TR 38.901 tapped-delay-line (TDL) models TDL-A ... TDL-E (Section 7.7.2).

Power-delay profiles (Tables 7.7.2-1 to 7.7.2-5) are tabulated with *normalised* delays (the
delay divided by the RMS delay spread, so each profile has an RMS delay spread of about 1);
the delays used are ``normalised delay x delay_spread`` (Section 7.7.3). Tap powers are
normalised so that their sum, LOS component included, is 1: ``E|H(f)|^2 = 1`` on every
subcarrier, the convention of :mod:`channels.conventions`. This is the normalisation of Sionna's
``tr38901.TDL`` (the standard's tables are not normalised; TDL-A sums to about 5.5 dB).

TDL-A/B/C are NLOS: every tap is Rayleigh. TDL-D/E are LOS: their first tap is Rician, a
specular component of power ``P_LOS`` (the table's "LOS path" row) plus a Rayleigh part at the
same zero delay, with the tabulated K-factor (13.3 dB for D, 22 dB for E). The specular phase
is uniform per example.

Time variation (optional, ``max_doppler_hz > 0``): every Rayleigh tap is a zero-mean complex
Gaussian process with Clarke's autocorrelation ``J0(2 pi f_D dt)`` (the classical Jakes
spectrum), sampled at the given times and drawn exactly by a Karhunen-Loeve expansion (eigen
decomposition of the ``T x T`` correlation matrix, truncated to the eigenvalues that carry all
but 1e-9 of the power). The specular component rotates at ``0.7 f_D`` (arrival angle
``arccos(0.7)``, as Sionna's ``TDL``). With ``max_doppler_hz = 0`` the taps are constant over
time (quasi-static per example). Taps are independent across examples and across taps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import nn

from channels.base import _positive, complex_normal, rician_power_gain
from channels.options import TDL_OPTIONS

__all__ = ["LOS_DOPPLER_FRACTION", "TDL", "TDLProfile", "TDL_PROFILES"]

#: Doppler of the specular LOS component as a fraction of the maximum Doppler (cos of its
#: arrival angle), as in Sionna's ``TDL``.
LOS_DOPPLER_FRACTION = 0.7
_KL_POWER_LOSS = 1e-9


@dataclass(frozen=True)
class TDLProfile:
    """A TDL power-delay profile as tabulated in TR 38.901 (rows in table order).

    Attributes:
        name: profile name (``"A"`` ... ``"E"`` for the standard ones).
        delays: normalised tap delays (delay / RMS delay spread), one per tap.
        powers_db: tap powers in dB; for a LOS profile the first tap's value is its Rayleigh part.
        los_power_db: power in dB of the specular (LOS) part of the first tap, or None (NLOS).
    """

    name: str
    delays: tuple[float, ...]
    powers_db: tuple[float, ...]
    los_power_db: float | None = None

    def __post_init__(self) -> None:
        if len(self.delays) != len(self.powers_db) or not self.delays:
            raise ValueError(f"profile {self.name!r} needs one power per delay, got {len(self.delays)} delays and {len(self.powers_db)} powers")
        if min(self.delays) < 0 or (self.los_power_db is not None and self.delays[0] != 0):
            raise ValueError(f"profile {self.name!r} needs delays >= 0 (and 0 for a LOS first tap), got {self.delays}")

    @property
    def k_factor_db(self) -> float | None:
        """K-factor of the first tap in dB (specular / Rayleigh power), None for NLOS."""
        return None if self.los_power_db is None else self.los_power_db - self.powers_db[0]


TDL_PROFILES: dict[str, TDLProfile] = {
    "A": TDLProfile(
        "A",
        (0.0, 0.3819, 0.4025, 0.5868, 0.4610, 0.5375, 0.6708, 0.5750, 0.7618, 1.5375, 1.8978, 2.2242,
         2.1718, 2.4942, 2.5119, 3.0582, 4.0810, 4.4579, 4.5695, 4.7966, 5.0066, 5.3043, 9.6586),
        (-13.4, 0.0, -2.2, -4.0, -6.0, -8.2, -9.9, -10.5, -7.5, -15.9, -6.6, -16.7,
         -12.4, -15.2, -10.8, -11.3, -12.7, -16.2, -18.3, -18.9, -16.6, -19.9, -29.7),
    ),
    "B": TDLProfile(
        "B",
        (0.0, 0.1072, 0.2155, 0.2095, 0.2870, 0.2986, 0.3752, 0.5055, 0.3681, 0.3697, 0.5700, 0.5283,
         1.1021, 1.2756, 1.5474, 1.7842, 2.0169, 2.8294, 3.0219, 3.6187, 4.1067, 4.2790, 4.7834),
        (0.0, -2.2, -4.0, -3.2, -9.8, -1.2, -3.4, -5.2, -7.6, -3.0, -8.9, -9.0,
         -4.8, -5.7, -7.5, -1.9, -7.6, -12.2, -9.8, -11.4, -14.9, -9.2, -11.3),
    ),
    "C": TDLProfile(
        "C",
        (0.0, 0.2099, 0.2219, 0.2329, 0.2176, 0.6366, 0.6448, 0.6560, 0.6584, 0.7935, 0.8213, 0.9336,
         1.2285, 1.3083, 2.1704, 2.7105, 4.2589, 4.6003, 5.4902, 5.6077, 6.3065, 6.6374, 7.0427, 8.6523),
        (-4.4, -1.2, -3.5, -5.2, -2.5, 0.0, -2.2, -3.9, -7.4, -7.1, -10.7, -11.1,
         -5.1, -6.8, -8.7, -13.2, -13.9, -13.9, -15.8, -17.1, -16.0, -15.7, -21.6, -22.8),
    ),
    "D": TDLProfile(
        "D",
        (0.0, 0.035, 0.612, 1.363, 1.405, 1.804, 2.596, 1.775, 4.042, 7.937, 9.424, 9.708, 12.525),
        (-13.5, -18.8, -21.0, -22.8, -17.9, -20.1, -21.9, -22.9, -27.8, -23.6, -24.8, -30.0, -27.7),
        los_power_db=-0.2,
    ),
    "E": TDLProfile(
        "E",
        (0.0, 0.5133, 0.5440, 0.5630, 0.5440, 0.7112, 1.9092, 1.9293, 1.9589, 2.6426, 3.7136, 5.4524,
         12.0034, 20.6519),
        (-22.03, -15.8, -18.1, -19.8, -22.9, -22.4, -18.6, -20.8, -22.6, -22.3, -25.6, -20.2,
         -29.8, -29.2),
        los_power_db=-0.03,
    ),
}


class TDL(nn.Module):
    """Tap gains of a TR 38.901 TDL model, drawn per example.

    Args:
        model: ``"A"`` ... ``"E"`` (case-insensitive), or a custom :class:`TDLProfile`.
        delay_spread_ns: RMS delay spread in ns (> 0); TR 38.901 Table 7.7.3-1 lists 10 (very
            short), 30 (short), 100 (nominal), 300 (long) and 1000 ns (very long).
        max_doppler_hz: maximum Doppler frequency ``f_D = v f_c / c`` in Hz (>= 0; 0 = static).

    Attributes:
        options: the keywords a user may set (``delay_spread_ns``, ``max_doppler_hz``).
        delays_s: tap delays in seconds, float64 ``[L]``.
        powers: mean power of the Rayleigh part of every tap (normalised), float64 ``[L]``.
        los_power: power of the first tap's specular part (0 for NLOS); ``powers.sum() +
            los_power = 1``.
    """

    options = TDL_OPTIONS

    def __init__(self, model: str | TDLProfile = "A", delay_spread_ns: float = 300.0, max_doppler_hz: float = 0.0) -> None:
        super().__init__()
        if isinstance(model, TDLProfile):
            self.profile = model
        elif isinstance(model, str) and model.upper() in TDL_PROFILES:
            self.profile = TDL_PROFILES[model.upper()]
        else:
            raise ValueError(f"unknown TDL profile {model!r}; choose one of: {', '.join(TDL_PROFILES)}")
        self.delay_spread_ns = _positive("delay_spread_ns", delay_spread_ns)
        if not math.isfinite(max(self.profile.delays) * self.delay_spread_ns):
            raise ValueError(f"delay_spread_ns={self.delay_spread_ns:g} puts the taps at infinite delays")
        self.max_doppler_hz = _positive("max_doppler_hz", max_doppler_hz, allow_zero=True)
        powers = 10.0 ** (np.asarray(self.profile.powers_db, dtype=np.float64) / 10.0)
        los = 0.0 if self.profile.los_power_db is None else 10.0 ** (self.profile.los_power_db / 10.0)
        total = powers.sum() + los
        self.los_power = los / total
        self.register_buffer("powers", torch.from_numpy(powers / total), persistent=False)
        delays = np.asarray(self.profile.delays, dtype=np.float64) * self.delay_spread_ns * 1e-9
        self.register_buffer("delays_s", torch.from_numpy(delays), persistent=False)
        self._bases: dict[tuple[int, float, torch.device, torch.dtype], torch.Tensor] = {}

    @property
    def num_taps(self) -> int:
        """``L``, the number of taps (a LOS profile's specular and Rayleigh parts are one tap)."""
        return len(self.profile.delays)

    @property
    def max_delay_s(self) -> float:
        """The largest tap delay in seconds."""
        return float(self.delays_s.max())

    @property
    def power_gain(self) -> stats.rv_continuous:
        """Distribution of ``|H(f)|^2`` at any one frequency and time.

        ``H(f)`` is the specular part (power ``P_LOS``, uniform phase) plus a sum of independent
        zero-mean complex Gaussians of total power ``1 - P_LOS``, whatever the delays: Rayleigh
        (``Exp(1)``) for TDL-A/B/C, Rician with ``K = P_LOS / (1 - P_LOS)`` for TDL-D/E
        (11.2 dB for D, 18.6 dB for E; not the first tap's K-factor, which excludes the other taps).
        """
        return rician_power_gain(self.los_power / (1.0 - self.los_power))

    def time_correlation(self, dt_s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised time correlations at lags ``dt_s`` (float64, any shape).

        Returns ``(rayleigh, los)``: ``E[a(t + dt) a*(t)] / power`` of a Rayleigh tap,
        ``J0(2 pi f_D dt)`` (real), and of the specular part, ``exp(j 2 pi 0.7 f_D dt)``.
        """
        arg = 2 * math.pi * self.max_doppler_hz * dt_s.double()
        return torch.special.bessel_j0(arg), torch.polar(torch.ones_like(arg), LOS_DOPPLER_FRACTION * arg)

    def _time_basis(self, num_times: int, step_s: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``F`` (``[T, r]``, computed in float64, cached on ``device`` as ``dtype``) with ``F F^T`` =
        the Rayleigh taps' correlation at ``t_i = i step_s``."""
        key = (num_times, step_s, device, dtype)
        if key not in self._bases:
            if self.max_doppler_hz == 0.0:
                basis = torch.ones(num_times, 1, dtype=torch.float64)
            else:
                lags = torch.arange(num_times, dtype=torch.float64) * step_s
                corr = self.time_correlation(lags[:, None] - lags[None, :])[0]
                eigval, eigvec = torch.linalg.eigh(corr)  # ascending
                eigval, eigvec = eigval.flip(0).clamp_min(0.0), eigvec.flip(1)
                captured = eigval.cumsum(0) / eigval.sum()
                rank = int((captured < 1.0 - _KL_POWER_LOSS).sum()) + 1
                basis = eigvec[:, :rank] * eigval[:rank].sqrt()
            self._bases[key] = basis.to(device=device, dtype=dtype)
        return self._bases[key]

    def forward(
        self,
        batch: int,
        num_times: int,
        step_s: float,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.complex64,
    ) -> torch.Tensor:
        """Draw tap gains at times ``0, step_s, ..., (num_times - 1) step_s``.

        Args:
            batch: ``B``, one independent channel per example.
            num_times: ``T``, e.g. the OFDM symbols of the transmission.
            step_s: time between samples in seconds (e.g. one OFDM symbol with its CP).
            generator: fixes the draws (Rayleigh parts first, then the specular phases).
            dtype: complex dtype of the result.

        Returns:
            Complex tap gains ``[B, T, L]``, ``E sum_l |a_l|^2 = 1``.
        """
        device = self.delays_s.device
        basis = self._time_basis(num_times, float(step_s), device, dtype)  # [T, r]
        white = complex_normal((batch, self.num_taps, basis.shape[1]), generator, dtype, device)
        taps = (white @ basis.T).transpose(1, 2) * self.powers.sqrt().to(dtype)  # [B, T, L]
        if self.los_power == 0.0:
            return taps
        real = dtype.to_real()
        phase0 = 2 * math.pi * torch.rand((batch, 1), generator=generator, device=device, dtype=real)
        times = torch.arange(num_times, device=device, dtype=torch.float64) * step_s
        rotation = (2 * math.pi * LOS_DOPPLER_FRACTION * self.max_doppler_hz * times).to(real)
        phase = phase0 + rotation  # [B, T]
        specular = math.sqrt(self.los_power) * torch.polar(torch.ones_like(phase), phase)
        return torch.cat([taps[..., :1] + specular.unsqueeze(-1), taps[..., 1:]], dim=-1)

    def extra_repr(self) -> str:
        return f"model={self.profile.name!r}, delay_spread_ns={self.delay_spread_ns}, max_doppler_hz={self.max_doppler_hz}"
