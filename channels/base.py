"""What every channel shares: the :class:`Channel` interface, its :class:`ChannelOutput`, the
receiver CSI modes, the complex Gaussian and noise samplers, the Rician ``|h|^2`` distribution
and the option checks.

A channel is a ``torch.nn.Module`` called as ``out = ch(x, snr_db, generator=g)``:

- ``x``: complex ``[B, ..., n]`` with unit average symbol energy (see :mod:`channels.conventions`).
- ``snr_db``: Es/N0 in dB, a number or a ``[B]`` tensor (one SNR per example).
- ``generator``: optional ``torch.Generator``; it fixes every random draw.

It returns a :class:`ChannelOutput` (or a subclass carrying more, e.g. OFDM pilots) with
``y = h * x + n``, ``n ~ CN(0, N0)``, differentiable with respect to ``x``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy import stats
from torch import nn

from channels.conventions import as_snr_tensor, snr_db_to_noise_var
from channels.options import ChannelOption

__all__ = [
    "CSI_MODES",
    "Channel",
    "ChannelOutput",
    "awgn_noise",
    "check_input",
    "complex_normal",
    "per_example_noise_var",
    "rician_power_gain",
]

#: Receiver CSI modes: ``perfect`` and ``none`` work on every channel; ``ls`` and ``lmmse``
#: estimate the channel from pilots and need a channel that sends them (the OFDM channels).
CSI_MODES: tuple[str, ...] = ("perfect", "ls", "lmmse", "none")


@dataclass(frozen=True)
class ChannelOutput:
    """What a receiver gets from a channel.

    Attributes:
        y: received symbols, complex ``[B, ..., n]`` (same shape as the input).
        h: complex channel gains, broadcastable to ``y`` (``[B, 1, ..., 1]`` for one gain per
            example, the shape of ``y`` for block/fast fading and OFDM, all ones for AWGN).
        noise_var: N0 per complex symbol, float ``[B, 1, ..., 1]`` (broadcastable to ``y``).
    """

    y: torch.Tensor
    h: torch.Tensor
    noise_var: torch.Tensor


class Channel(nn.Module):
    """Interface of every channel (flat or OFDM).

    Attributes:
        name: the registry name.
        csi_modes: the receiver CSI modes (from :data:`CSI_MODES`) this channel's output supports.
        options: the constructor keywords a user may set, as flags (:mod:`channels.options`).
    """

    name: str = "channel"
    csi_modes: tuple[str, ...] = ("perfect", "none")
    options: tuple[ChannelOption, ...] = ()

    @property
    def power_gain(self) -> stats.rv_continuous | None:
        """Frozen ``scipy.stats`` distribution of the per-symbol ``|h|^2`` (mean 1), or None for
        no fading; the theory and capacity helpers integrate over it."""
        raise NotImplementedError

    @property
    def mean_gain(self) -> complex:
        """``E h``, the deterministic (line-of-sight) part of the gain that a receiver without CSI
        can rely on: 0 for zero-mean (Rayleigh) scattering, the default."""
        return 0j

    def forward(
        self, x: torch.Tensor, snr_db: float | torch.Tensor, generator: torch.Generator | None = None
    ) -> ChannelOutput:
        """Pass ``x`` (complex ``[B, ..., n]``, ``E|x|^2 = 1``) through the channel at ``snr_db``."""
        raise NotImplementedError


def check_input(x: torch.Tensor) -> None:
    """Raise a one-line ``ValueError`` unless ``x`` is a complex tensor ``[B, ..., n]``."""
    if not isinstance(x, torch.Tensor) or not x.is_complex():
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"channel input must be a complex tensor [B, ..., n], got {got}")
    if x.dim() < 2:
        raise ValueError(f"channel input must have shape [B, ..., n], got {tuple(x.shape)}")


def complex_normal(
    shape: tuple[int, ...] | torch.Size,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """Samples of CN(0, 1): ``E|z|^2 = 1``, variance 1/2 on each of the real and imaginary parts."""
    return torch.randn(tuple(shape), generator=generator, dtype=dtype, device=device)


def per_example_noise_var(snr_db: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """N0 of every example at Es/N0 ``snr_db`` (a number or ``[B]``), float ``[B, 1, ..., 1]``
    broadcastable to ``x`` (``[B, ..., n]``)."""
    batch = x.shape[0]
    noise_var = snr_db_to_noise_var(as_snr_tensor(snr_db, batch, device=x.device))
    return noise_var.reshape((batch,) + (1,) * (x.dim() - 1))


def awgn_noise(
    shape: tuple[int, ...] | torch.Size,
    noise_var: torch.Tensor,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """Samples of CN(0, N0) of the given complex ``dtype``, with ``N0 = noise_var`` (float,
    broadcastable to ``shape``, e.g. ``[B, 1, ..., 1]`` for one N0 per example)."""
    noise = complex_normal(shape, generator, dtype, device)
    torch.view_as_real(noise).mul_(noise_var.sqrt().to(dtype.to_real()).unsqueeze(-1))  # in place, real
    return noise


def rician_power_gain(k_factor: float) -> stats.rv_continuous:
    """Frozen distribution of ``|h|^2`` for Rician fading with K-factor ``k_factor`` (linear,
    >= 0) and ``E|h|^2 = 1``: ``Exp(1)`` (Rayleigh) for ``K = 0``."""
    if k_factor == 0:
        return stats.expon()
    # |h|^2 = s^2/2 * chi'^2(2 dof, noncentrality 2K) with s^2 = 1/(K+1); mean = 1.
    return stats.ncx2(df=2, nc=2 * k_factor, scale=1.0 / (2 * (k_factor + 1)))


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    """``value`` as a float if it is a finite number > 0 (>= 0 with ``allow_zero``), else a
    one-line ``ValueError`` naming ``name``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


def _count(name: str, value: int | None, minimum: int, none_means: str | None = None) -> int | None:
    """``value`` if it is an integer >= ``minimum`` (or None, where ``none_means`` says what None
    stands for), else a one-line ``ValueError`` naming ``name``."""
    if value is None and none_means is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = "an integer" if none_means is None else f"None ({none_means}) or an integer"
        raise ValueError(f"{name} must be {allowed} >= {minimum}, got {value!r}")
    return value
