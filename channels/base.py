"""What every channel shares: the :class:`Channel` interface, its :class:`ChannelOutput`, the
receiver CSI modes and the complex Gaussian sampler.

A channel is a ``torch.nn.Module`` called as ``out = ch(x, snr_db, generator=g)``:

- ``x``: complex ``[B, ..., n]`` with unit average symbol energy (see :mod:`channels.conventions`).
- ``snr_db``: Es/N0 in dB, a number or a ``[B]`` tensor (one SNR per example).
- ``generator``: optional ``torch.Generator``; it fixes every random draw.

It returns a :class:`ChannelOutput` (or a subclass carrying more, e.g. OFDM pilots) with
``y = h * x + n``, ``n ~ CN(0, N0)``, differentiable with respect to ``x``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy import stats
from torch import nn

__all__ = ["CSI_MODES", "Channel", "ChannelOutput", "check_input", "complex_normal"]

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
    """

    name: str = "channel"
    csi_modes: tuple[str, ...] = ("perfect", "none")

    @property
    def power_gain(self) -> stats.rv_continuous | None:
        """Frozen ``scipy.stats`` distribution of the per-symbol ``|h|^2`` (mean 1), or None for
        no fading; the theory and capacity helpers integrate over it."""
        raise NotImplementedError

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
