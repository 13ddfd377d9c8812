"""Receiver-side helpers for flat channels: CSI modes and single-tap equalisation.

Receiver CSI modes (what a receiver is allowed to use from a :class:`~channels.flat.ChannelOutput`):

- ``"perfect"``: the receiver knows ``h`` and ``N0`` exactly. It equalises (:func:`equalize`)
  and demaps / decodes with the post-equalisation noise variance.
- ``"none"``: the receiver knows neither ``h`` nor its phase; it sees ``y`` and the average
  noise variance ``N0`` only (:func:`no_csi`). On AWGN this loses nothing; on Rayleigh fading a
  coherent digital receiver then fails (BER -> 1/2), while a learned JSCC decoder may still
  exploit amplitude statistics.

(An ``"estimated"`` mode, with pilots and LS/LMMSE estimates, arrives with the OFDM channels.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from channels.flat import ChannelOutput

__all__ = ["CSI_MODES", "Equalized", "check_csi", "equalize", "no_csi", "receive"]

CSI_MODES: tuple[str, ...] = ("perfect", "none")
EqualizerName = Literal["zf", "mmse"]


@dataclass(frozen=True)
class Equalized:
    """Equalised symbols and their effective noise.

    Attributes:
        x_hat: estimate of the transmitted symbols, complex ``[B, ..., n]``.
        noise_var: variance of ``x_hat - x`` per symbol, float broadcastable to ``x_hat``.
    """

    x_hat: torch.Tensor
    noise_var: torch.Tensor


def equalize(out: ChannelOutput, method: EqualizerName = "zf") -> Equalized:
    """Single-tap equalisation with perfect CSI.

    - ``"zf"``: ``x_hat = y / h`` (unbiased), ``noise_var = N0 / |h|^2``. Use this before a
      demapper: the LLRs of ``y`` given ``h`` equal those of ``x_hat`` with this noise variance.
    - ``"mmse"``: ``x_hat = conj(h) y / (|h|^2 + N0)`` (biased towards 0, minimum mean squared
      error for unit-energy symbols), ``noise_var = N0 / (|h|^2 + N0)`` is its MSE ``E|x_hat - x|^2``.

    Args:
        out: the channel output (``y [B, ..., n]``, ``h``, ``noise_var``).
        method: ``"zf"`` or ``"mmse"``.
    """
    h2 = out.h.abs().square()
    if method == "zf":
        return Equalized(x_hat=out.y / out.h, noise_var=out.noise_var / h2)
    if method == "mmse":
        denom = h2 + out.noise_var
        return Equalized(x_hat=out.y * out.h.conj() / denom, noise_var=out.noise_var / denom)
    raise ValueError(f"unknown equalizer {method!r}; choose one of: zf, mmse")


def no_csi(out: ChannelOutput) -> Equalized:
    """What a receiver without CSI has: ``y`` as is and the average noise variance ``N0``."""
    return Equalized(x_hat=out.y, noise_var=out.noise_var)


def check_csi(csi: str) -> str:
    """Return ``csi`` if it is one of :data:`CSI_MODES`, else raise a one-line ``ValueError``."""
    if csi not in CSI_MODES:
        raise ValueError(f"unknown CSI mode {csi!r}; choose one of: {', '.join(CSI_MODES)}")
    return csi


def receive(out: ChannelOutput, csi: str, method: EqualizerName = "zf") -> Equalized:
    """Apply the receiver CSI mode ``csi`` (one of :data:`CSI_MODES`) to a channel output."""
    return equalize(out, method) if check_csi(csi) == "perfect" else no_csi(out)
