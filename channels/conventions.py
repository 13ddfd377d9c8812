"""The physical conventions of semcomm, defined once.

Every other module (channels, modems, JSCC models, SSCC baselines, capacity bounds) uses
these definitions and these helpers; none re-derives them.

Signals
    Complex baseband, ``torch.complex64`` (or ``complex128``), shape ``[B, ..., n]``: one row of
    ``n`` channel uses per example ``b`` (extra middle axes, e.g. layers, are allowed).

Symbol energy
    Transmitters emit symbols with unit average energy, ``E|x|^2 = 1`` per complex symbol.
    Digital constellations are normalised to it; learned encoders call :func:`normalize_power`
    per example. Channels never measure or rescale the signal: the SNR is defined relative to
    ``Es = 1``, so a transmitter that violates it gets exactly the SNR it deserves.

SNR
    ``SNR = Es / N0`` per complex symbol (channel use), in dB: ``snr_db = 10 log10(Es/N0)``.
    With ``Es = 1`` the noise variance is ``N0 = 10^(-snr_db/10)``
    (:func:`snr_db_to_noise_var`). An SNR may be a Python float (one for the batch) or a
    ``[B]`` tensor (one per example, as SNR-adaptive training needs).

Noise
    Circularly-symmetric complex Gaussian ``n ~ CN(0, N0)``: ``E|n|^2 = N0`` per complex
    symbol, i.e. ``N0 / 2`` on each of the real (I) and imaginary (Q) parts. (The most common
    bug in DeepJSCC code is drawing ``N0`` per real dimension, which is a 3 dB error.)

Fading
    Flat-fading channels multiply by a complex gain ``h`` with ``E|h|^2 = 1`` (the average
    received SNR equals the transmitted one). Gains are drawn independently per example (per
    block of symbols, or per symbol), never shared across a batch.

Bits and Eb/N0
    A modulation carrying ``m`` bits per complex symbol (rate ``r`` if coded) has
    ``Es = r m Eb``, so ``Es/N0 [dB] = Eb/N0 [dB] + 10 log10(r m)``
    (:func:`ebno_db_to_esno_db`, :func:`esno_db_to_ebno_db`).

Bandwidth ratio
    For JSCC, ``k / n`` with ``k`` complex channel uses and ``n`` real source values
    (e.g. ``n = 3 * 32 * 32 = 3072`` for a CIFAR-10 image).

LLRs
    One sign convention in the whole project: ``LLR = ln P(b=1 | y) - ln P(b=0 | y)``, i.e. the
    logit of bit = 1 (Sionna's convention). A positive LLR favours bit 1; the hard decision
    is ``llr > 0``.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "snr_db_to_noise_var",
    "noise_var_to_snr_db",
    "ebno_db_to_esno_db",
    "esno_db_to_ebno_db",
    "normalize_power",
    "average_power",
    "as_snr_tensor",
]

SnrLike = float | int | torch.Tensor


def as_snr_tensor(snr_db: SnrLike, batch_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Return the SNR as a float tensor of shape ``[B]``.

    Args:
        snr_db: a number (the same SNR for every example) or a tensor of shape ``[]`` or ``[B]``.
        batch_size: ``B``.
        device: device of the returned tensor.

    Raises:
        ValueError: on a shape other than ``[]``/``[B]``, or a non-finite value.
    """
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float, torch.Tensor)):
        raise ValueError(f"snr_db must be a number or a [B] tensor, got {type(snr_db).__name__}")
    snr = torch.as_tensor(snr_db, dtype=torch.float32, device=device)
    if snr.dim() == 0:
        snr = snr.expand(batch_size)
    elif snr.shape != (batch_size,):
        raise ValueError(
            f"snr_db has shape {tuple(snr.shape)}; expected a scalar or [B] = [{batch_size}]"
        )
    if not torch.isfinite(snr).all():
        raise ValueError(f"snr_db must be finite, got {snr_db}")
    return snr


def snr_db_to_noise_var(snr_db: SnrLike) -> torch.Tensor | float:
    """Noise variance ``N0`` per complex symbol for ``Es = 1``: ``N0 = 10^(-snr_db/10)``.

    Returns a float for a number, a tensor of the same shape for a tensor.
    """
    if isinstance(snr_db, torch.Tensor):
        return torch.pow(10.0, -snr_db.to(torch.float32) / 10.0)
    return 10.0 ** (-float(snr_db) / 10.0)


def noise_var_to_snr_db(noise_var: SnrLike) -> torch.Tensor | float:
    """Inverse of :func:`snr_db_to_noise_var`: ``snr_db = -10 log10(N0)`` (for ``Es = 1``)."""
    if isinstance(noise_var, torch.Tensor):
        return -10.0 * torch.log10(noise_var)
    return -10.0 * math.log10(float(noise_var))


def ebno_db_to_esno_db(ebno_db: SnrLike, bits_per_symbol: float, code_rate: float = 1.0) -> SnrLike:
    """``Es/N0 = Eb/N0 + 10 log10(code_rate * bits_per_symbol)`` (all in dB)."""
    return ebno_db + 10.0 * math.log10(code_rate * bits_per_symbol)


def esno_db_to_ebno_db(esno_db: SnrLike, bits_per_symbol: float, code_rate: float = 1.0) -> SnrLike:
    """``Eb/N0 = Es/N0 - 10 log10(code_rate * bits_per_symbol)`` (all in dB)."""
    return esno_db - 10.0 * math.log10(code_rate * bits_per_symbol)


def _per_example_dims(x: torch.Tensor, dim: int | tuple[int, ...] | None) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(1, x.dim()))
    return (dim,) if isinstance(dim, int) else tuple(dim)


def average_power(x: torch.Tensor, dim: int | tuple[int, ...] | None = None) -> torch.Tensor:
    """Mean of ``|x|^2`` over ``dim`` (default: every axis but the batch axis 0), keepdim."""
    dims = _per_example_dims(x, dim)
    return x.abs().square().mean(dim=dims, keepdim=True)


def normalize_power(
    x: torch.Tensor, dim: int | tuple[int, ...] | None = None, eps: float = 1e-12
) -> torch.Tensor:
    """Scale ``x`` to unit average power per example.

    Args:
        x: complex (or real) tensor ``[B, ..., n]``.
        dim: the axes that hold one example's symbols; default every axis but the batch axis.
            Pass ``-1`` to normalise each row (e.g. each layer of a multi-resolution code)
            on its own.
        eps: guards against division by zero for an all-zero input.

    Returns:
        ``x / sqrt(mean |x|^2)`` with the mean over ``dim``; same shape as ``x``.
        Differentiable.
    """
    if x.dim() < 2 and dim is None:
        raise ValueError(f"normalize_power needs a batch axis; got shape {tuple(x.shape)}")
    return x * torch.rsqrt(average_power(x, dim) + eps)
