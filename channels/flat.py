"""Flat (single-tap) channels: AWGN, Rayleigh (block and fast) and Rician fading.

Every channel is a ``torch.nn.Module`` called as ``out = ch(x, snr_db, generator=g)``:

- ``x``: complex ``[B, ..., n]`` with unit average symbol energy (see :mod:`channels.conventions`).
- ``snr_db``: Es/N0 in dB, a number or a ``[B]`` tensor (one SNR per example).
- ``generator``: optional ``torch.Generator``; it fixes every random draw (gains and noise).

It returns a :class:`ChannelOutput` ``(y, h, noise_var)`` with ``y = h * x + n``,
``n ~ CN(0, N0)``. The output is differentiable with respect to ``x``.

Fading gains have ``E|h|^2 = 1`` and are drawn independently per example. ``block_len``
says how many consecutive symbols of one example share a gain: ``None`` = one gain for the
whole example (quasi-static block fading), ``1`` = a new gain per symbol (fast fading),
``L`` = a new gain every ``L`` symbols. Symbols are counted in the row-major order of the
axes after the batch axis, so a ``[B, layers, k]`` input with ``block_len=None`` sees one
gain per example across all its layers.
"""

from __future__ import annotations

import cmath
import math

import torch
from scipy import stats

from channels.base import (
    Channel,
    ChannelOutput,
    _count,
    _positive,
    awgn_noise,
    check_input,
    complex_normal,
    per_example_noise_var,
    rician_power_gain,
)
from channels.options import BLOCK_LEN, K_FACTOR

__all__ = ["ChannelOutput", "FlatChannel", "AWGN", "RayleighBlock", "RayleighFast", "Rician"]


class FlatChannel(Channel):
    """Base class: ``y = h x + n`` with ``h`` from :meth:`draw_gains`.

    Subclasses define :meth:`draw_gains` and :attr:`power_gain` (the distribution of
    ``|h|^2``, used by the theory and capacity helpers). Flat channels send no pilots: their
    receivers support the CSI modes ``perfect`` and ``none`` only.
    """

    name: str = "flat"
    #: False for AWGN (``h = 1``), which then skips the multiplication by ``h``.
    fading: bool = True

    def draw_gains(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Complex gains broadcastable to ``x`` (``[B, ..., n]``)."""
        raise NotImplementedError

    def forward(
        self,
        x: torch.Tensor,
        snr_db: float | torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> ChannelOutput:
        """Pass ``x`` (complex ``[B, ..., n]``, ``E|x|^2 = 1``) through the channel at ``snr_db``."""
        check_input(x)
        noise_var = per_example_noise_var(snr_db, x)
        h = self.draw_gains(x, generator)
        noise = awgn_noise(x.shape, noise_var, generator, x.dtype, x.device)
        y = noise.add_(h * x if self.fading else x)
        return ChannelOutput(y=y, h=h, noise_var=noise_var)


class AWGN(FlatChannel):
    """Additive white Gaussian noise, ``h = 1``."""

    name = "awgn"
    fading = False

    def draw_gains(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.ones((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)

    @property
    def power_gain(self) -> None:
        return None

    @property
    def mean_gain(self) -> complex:
        return 1 + 0j


_BLOCK_LEN_NONE = "one gain per example"


def _blocked(gains: torch.Tensor, x: torch.Tensor, block_len: int | None) -> torch.Tensor:
    """Spread per-block gains ``[B, n_blocks]`` over the symbols of ``x`` (``[B, ..., n]``)."""
    if block_len is None:
        return gains.reshape((x.shape[0],) + (1,) * (x.dim() - 1))
    per_example = math.prod(x.shape[1:])
    block_len = min(block_len, per_example)  # a block longer than the frame is the whole frame
    return gains.repeat_interleave(block_len, dim=1)[:, :per_example].reshape(x.shape)


def _n_blocks(x: torch.Tensor, block_len: int | None) -> int:
    return 1 if block_len is None else -(-math.prod(x.shape[1:]) // block_len)


class RayleighBlock(FlatChannel):
    """Block Rayleigh fading: ``h ~ CN(0, 1)`` per example, or per block of ``block_len`` symbols.

    Args:
        block_len: symbols sharing one gain; ``None`` = one gain per example (quasi-static),
            ``1`` = a new gain per symbol (see :class:`RayleighFast`).
    """

    name = "rayleigh-block"
    options = (BLOCK_LEN,)

    def __init__(self, block_len: int | None = None) -> None:
        super().__init__()
        self.block_len = _count("block_len", block_len, 1, none_means=_BLOCK_LEN_NONE)

    def draw_gains(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        gains = complex_normal((x.shape[0], _n_blocks(x, self.block_len)), generator, x.dtype, x.device)
        return _blocked(gains, x, self.block_len)

    @property
    def power_gain(self) -> stats.rv_continuous:
        return stats.expon()

    def extra_repr(self) -> str:
        return f"block_len={self.block_len}"


class RayleighFast(RayleighBlock):
    """Fast Rayleigh fading: an independent ``CN(0, 1)`` gain for every symbol."""

    name = "rayleigh-fast"
    options = ()

    def __init__(self) -> None:
        super().__init__(block_len=1)


class Rician(FlatChannel):
    """Rician fading with K-factor ``K`` (linear): ``h = sqrt(K/(K+1)) e^{j phi} + sqrt(1/(K+1)) g``, ``g ~ CN(0,1)``.

    ``E|h|^2 = 1``. The line-of-sight phase ``phi`` is ``los_phase`` (radians, default 0, the
    same for every example — a receiver with perfect CSI is unaffected by it), or, with
    ``los_phase=None``, drawn uniformly in ``[0, 2 pi)`` for every gain. ``K = 0`` is Rayleigh;
    ``K -> inf`` tends to AWGN.

    Args:
        k_factor: ratio of LOS to scattered power, linear, >= 0.
        block_len: as for :class:`RayleighBlock` (``None`` = one gain per example, ``1`` = fast).
        los_phase: LOS phase in radians, or None for a uniformly random phase per gain.
    """

    name = "rician"
    options = (K_FACTOR, BLOCK_LEN)

    def __init__(self, k_factor: float = 1.0, block_len: int | None = None, los_phase: float | None = 0.0) -> None:
        super().__init__()
        self.k_factor = _positive("k_factor (linear)", k_factor, allow_zero=True)
        self.block_len = _count("block_len", block_len, 1, none_means=_BLOCK_LEN_NONE)
        self.los_phase = los_phase

    def draw_gains(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        shape = (x.shape[0], _n_blocks(x, self.block_len))
        k = self.k_factor
        scattered = complex_normal(shape, generator, x.dtype, x.device) * math.sqrt(1.0 / (k + 1.0))
        if self.los_phase is None:
            phase = 2 * math.pi * torch.rand(shape, generator=generator, device=x.device, dtype=x.real.dtype)
        else:
            phase = torch.full(shape, float(self.los_phase), device=x.device, dtype=x.real.dtype)
        los = math.sqrt(k / (k + 1.0)) * torch.polar(torch.ones_like(phase), phase)
        return _blocked(los + scattered, x, self.block_len)

    @property
    def power_gain(self) -> stats.rv_continuous:
        return rician_power_gain(self.k_factor)

    @property
    def mean_gain(self) -> complex:
        """The LOS part ``sqrt(K / (K + 1)) e^{j phi}``; 0 when the LOS phase is random."""
        if self.los_phase is None:
            return 0j
        return cmath.rect(math.sqrt(self.k_factor / (self.k_factor + 1.0)), float(self.los_phase))

    def extra_repr(self) -> str:
        return f"k_factor={self.k_factor}, block_len={self.block_len}, los_phase={self.los_phase}"
