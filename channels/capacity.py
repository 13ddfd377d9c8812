"""Capacity of flat channels (bits per complex channel use), for SNR = Es/N0 in dB.

- :func:`awgn_capacity`: ``log2(1 + SNR)``.
- :func:`rayleigh_ergodic_capacity`: closed form ``log2(e) e^{1/SNR} E1(1/SNR)``.
- :func:`ergodic_capacity`: ``E[log2(1 + SNR |h|^2)]`` for any fading power distribution
  (numerical integration; e.g. Rician).
- :func:`rayleigh_outage_probability`: block Rayleigh fading, ``P[log2(1 + SNR|h|^2) < R]
  = 1 - exp(-(2^R - 1)/SNR)``; :func:`outage_probability` for any fading distribution.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate, special, stats

__all__ = [
    "awgn_capacity",
    "rayleigh_ergodic_capacity",
    "ergodic_capacity",
    "rayleigh_outage_probability",
    "outage_probability",
]


def _snr_linear(snr_db: ArrayLike) -> np.ndarray:
    return 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0)


def awgn_capacity(snr_db: ArrayLike) -> np.ndarray:
    """Shannon capacity of the complex AWGN channel, ``log2(1 + SNR)`` bits/channel use."""
    return np.log2(1.0 + _snr_linear(snr_db))


def rayleigh_ergodic_capacity(snr_db: ArrayLike) -> np.ndarray:
    """Ergodic capacity of Rayleigh fading with perfect receiver CSI, ``E[log2(1 + SNR|h|^2)]``.

    Closed form ``log2(e) exp(1/SNR) E1(1/SNR)``; evaluated as ``log2(e) * exp1x`` with the
    scaled exponential integral to stay finite at low SNR.
    """
    inv = 1.0 / _snr_linear(snr_db)
    # exp(x) E1(x) computed stably: scipy's exp1 underflows against exp(x) for large x.
    scaled = np.where(inv < 700, np.exp(np.minimum(inv, 700)) * special.exp1(inv), 1.0 / (inv + 1.0))
    return np.log2(np.e) * scaled


def _expect(power_gain: stats.rv_continuous, fn) -> float:
    """``E[fn(g)]`` for ``g ~ power_gain`` by adaptive quadrature over its support."""
    lo, hi = power_gain.ppf(1e-14), power_gain.isf(1e-14)
    value, _ = integrate.quad(lambda g: fn(g) * power_gain.pdf(g), 0.0, hi, points=[lo, power_gain.mean()], limit=200)
    return value


def ergodic_capacity(snr_db: ArrayLike, power_gain: stats.rv_continuous | None) -> np.ndarray:
    """``E[log2(1 + SNR g)]`` with ``g = |h|^2 ~ power_gain`` (a frozen scipy distribution, e.g.
    ``channel.power_gain``); ``None`` means no fading (AWGN)."""
    if power_gain is None:
        return awgn_capacity(snr_db)
    return np.vectorize(lambda s: _expect(power_gain, lambda g: np.log2(1.0 + s * g)))(_snr_linear(snr_db))


def rayleigh_outage_probability(rate: ArrayLike, snr_db: ArrayLike) -> np.ndarray:
    """Outage probability of block Rayleigh fading at ``rate`` bits/channel use: ``1 - exp(-(2^R - 1)/SNR)``."""
    return -np.expm1(-(np.exp2(np.asarray(rate, dtype=np.float64)) - 1.0) / _snr_linear(snr_db))


def outage_probability(rate: ArrayLike, snr_db: ArrayLike, power_gain: stats.rv_continuous | None) -> np.ndarray:
    """``P[log2(1 + SNR g) < rate]`` for ``g ~ power_gain`` (``None``: AWGN, a step at capacity)."""
    threshold = (np.exp2(np.asarray(rate, dtype=np.float64)) - 1.0) / _snr_linear(snr_db)
    if power_gain is None:
        return (threshold > 1.0).astype(np.float64)
    return power_gain.cdf(threshold)
