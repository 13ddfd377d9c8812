"""Receiver side: CSI modes, channel estimation and single-tap equalisation.

Receiver CSI modes (:data:`CSI_MODES`, what a receiver may use from a channel output):

- ``"perfect"``: the receiver knows ``h`` and ``N0`` exactly. It equalises (:func:`equalize`)
  and demaps / decodes with the post-equalisation noise variance.
- ``"ls"``, ``"lmmse"``: the receiver estimates ``h`` from the pilots of an OFDM channel
  (:class:`~channels.estimation.PilotEstimator`: LS with linear interpolation, or LMMSE with
  the channel's known second-order statistics) and equalises with the estimate, counting the
  estimation error as noise (below). Flat channels send no pilots: these modes raise a
  ``ValueError`` on their outputs.
- ``"none"``: the receiver knows neither ``h`` nor its phase; it sees ``y`` and the average
  noise variance ``N0`` only (:func:`no_csi`). On AWGN this loses nothing; on Rayleigh fading a
  coherent digital receiver then fails (BER -> 1/2), while a learned JSCC decoder may still
  exploit amplitude statistics.

Estimated CSI: with ``H = H_hat + e``, ``E|e|^2 = s_e`` (the estimator's ``error_var``) and
unit-energy symbols, ``y = H_hat x + (e x + n)``: the receiver treats ``e x + n`` as noise of
variance ``N0 + s_e``, uncorrelated with ``H_hat x`` (exact for LMMSE, whose error is orthogonal
to the estimate; an approximation for LS). Equalisation is then the perfect-CSI formula with
``H_hat`` for ``h`` and ``N0 + s_e`` for ``N0``: ZF ``noise_var = (N0 + s_e) / |H_hat|^2``,
MMSE ``noise_var = (N0 + s_e) / (|H_hat|^2 + N0 + s_e)`` (its MSE, as with perfect CSI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from channels.base import CSI_MODES, Channel, ChannelOutput
from channels.estimation import ChannelEstimate
from channels.ofdm import OFDMChannelOutput, to_input_shape

__all__ = ["CSI_MODES", "Equalized", "check_csi", "equalize", "estimate", "no_csi", "receive"]

EqualizerName = Literal["zf", "mmse"]
#: Why a pilot-based CSI mode fails on a flat channel; follows ``f"CSI mode {csi!r} "``.
_NEEDS_OFDM = "estimates the channel from pilots and needs an OFDM channel (tdl-a ... tdl-e)"


@dataclass(frozen=True)
class Equalized:
    """Equalised symbols and their effective noise.

    Attributes:
        x_hat: estimate of the transmitted symbols, complex ``[B, ..., n]``.
        noise_var: variance of ``x_hat - x`` per symbol, float broadcastable to ``x_hat``.
    """

    x_hat: torch.Tensor
    noise_var: torch.Tensor


def _equalize(y: torch.Tensor, h: torch.Tensor, noise_var: torch.Tensor, method: EqualizerName) -> Equalized:
    h2 = h.abs().square()
    if method == "zf":
        return Equalized(x_hat=y / h, noise_var=noise_var / h2)
    if method == "mmse":
        denom = h2 + noise_var
        return Equalized(x_hat=y * h.conj() / denom, noise_var=noise_var / denom)
    raise ValueError(f"unknown equalizer {method!r}; choose one of: zf, mmse")


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
    return _equalize(out.y, out.h, out.noise_var, method)


def no_csi(out: ChannelOutput) -> Equalized:
    """What a receiver without CSI has: ``y`` as is and the average noise variance ``N0``."""
    return Equalized(x_hat=out.y, noise_var=out.noise_var)


def check_csi(csi: str, channel: Channel | None = None) -> str:
    """Return ``csi`` if it is one of :data:`CSI_MODES` (and, given a ``channel``, one it
    supports), else raise a one-line ``ValueError``."""
    if csi not in CSI_MODES:
        raise ValueError(
            f"unknown CSI mode {csi!r}; choose one of: perfect, none (any channel), ls, lmmse (OFDM channels)"
        )
    if channel is not None and csi not in channel.csi_modes:
        raise ValueError(f"CSI mode {csi!r} {_NEEDS_OFDM}; {channel.name!r} supports: {', '.join(channel.csi_modes)}")
    return csi


def estimate(out: ChannelOutput, csi: str) -> ChannelEstimate:
    """The ``ls`` or ``lmmse`` channel estimate at the data symbols, in the shape of ``out.y``.

    Raises:
        ValueError: if ``out`` has no pilots (a flat channel's output) or ``csi`` is not ls/lmmse.
    """
    if not isinstance(out, OFDMChannelOutput):
        raise ValueError(f"CSI mode {csi!r} {_NEEDS_OFDM}; a flat channel sends none")
    h_hat, error = out.estimator(out.y_pilot, out.noise_var.reshape(out.y.shape[0]), csi)
    return ChannelEstimate(h_hat=to_input_shape(h_hat, out.y.shape), error_var=to_input_shape(error, out.y.shape))


def receive(out: ChannelOutput, csi: str, method: EqualizerName = "zf") -> Equalized:
    """Apply the receiver CSI mode ``csi`` (one of :data:`CSI_MODES`) to a channel output:
    equalise with ``h`` (perfect), with its pilot estimate (ls, lmmse), or pass ``y`` (none)."""
    if check_csi(csi) == "perfect":
        return equalize(out, method)
    if csi == "none":
        return no_csi(out)
    est = estimate(out, csi)
    return _equalize(out.y, est.h_hat, out.noise_var + est.error_var, method)
