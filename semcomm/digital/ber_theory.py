"""Closed-form and numerically integrated uncoded bit error rates of Gray BPSK / square QAM.

SNR argument
    Every function takes ``esno_db`` = **Es/N0 in dB per complex symbol** (the project's SNR,
    :mod:`channels.conventions`), a number or an array (results are vectorised over it and
    have its shape). From Eb/N0 use ``ebno_db_to_esno_db(ebno_db, m)`` of
    :mod:`channels.conventions`, with ``m`` bits per symbol.

Detector
    The exact expressions are the BER of ML *symbol* detection followed by reading the
    symbol's Gray label, i.e. of the hard decisions of the ``"maxlog"``
    :class:`~semcomm.digital.qam.QAMDemapper`. Hard decisions on ``"app"`` LLRs are
    bitwise MAP and can be marginally better at low SNR (the thresholds of the inner bits
    move slightly); the two coincide at high SNR.

Exact AWGN BER
    For Gray BPSK / square M-QAM every expression is a short series
    ``BER(γ) = Σ_i w_i Q(a_i sqrt(γ))``, ``γ = Es/N0``: BPSK ``Q(sqrt(2γ))``, QPSK
    ``Q(sqrt(γ))`` and, for M-QAM, K. Cho and D. Yoon, "On the general BER expression of one-
    and two-dimensional amplitude modulations", IEEE Trans. Commun.,
    vol. 50, no. 7, 2002, which holds for the binary-reflected Gray PAM in each dimension that
    3GPP TS 38.211 §5.1 (and Sionna) use.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Protocol

import numpy as np
from scipy import integrate, special

from semcomm.digital.qam import get_constellation

__all__ = [
    "awgn_ber",
    "awgn_ber_approx",
    "fading_ber",
    "rayleigh_ber_bpsk",
    "rayleigh_ber_qpsk",
]

#: Upper limit of the integral over the Gaussian variable in :func:`fading_ber`:
#: ``Q(40) ~ 4e-350`` underflows, so truncating there loses nothing representable.
_T_MAX = 40.0
#: ``quad`` may report round-off trouble on BERs this small (e.g. Rician, large K, high SNR);
#: only digits no simulation can reach are affected, so such reports are dropped.
_QUIET_BELOW = 1e-30
#: Quantiles of the power gain whose images are passed to ``quad`` as break points.
_BREAK_QUANTILES = (1e-9, 1e-6, 1e-3, 0.05, 0.5, 0.95, 0.999)


class GainDistribution(Protocol):
    """What :func:`fading_ber` needs of a power-gain distribution (a frozen
    ``scipy.stats`` continuous distribution has it)."""

    def cdf(self, x: np.ndarray) -> np.ndarray: ...

    def ppf(self, q: tuple[float, ...]) -> np.ndarray: ...

    def mean(self) -> float: ...

    def support(self) -> tuple[float, float]: ...


def _esno(esno_db: float | np.ndarray) -> np.ndarray:
    """Linear ``Es/N0`` (float64, the shape of ``esno_db``)."""
    return np.power(10.0, np.asarray(esno_db, dtype=np.float64) / 10.0)


def _qfunc(x: np.ndarray) -> np.ndarray:
    """Gaussian tail ``Q(x) = P(N(0,1) > x)``, accurate relative to itself for large ``x``."""
    return special.ndtr(-x)


@functools.cache
def _q_series(modulation: str) -> tuple[np.ndarray, np.ndarray]:
    """Weights and arguments of the exact AWGN BER ``Σ_i w_i Q(a_i sqrt(Es/N0))``.

    The modulation is a Gray ``L``-PAM in each of ``D`` real dimensions (``D = 1``, ``L = 2``
    for BPSK; ``D = 2``, ``L = sqrt(M)`` for QAM) with energy ``Es / D`` per dimension, so the
    half-distance between adjacent levels is ``sqrt(3 Es / (D (L^2 - 1)))``; in units of the
    noise standard deviation per dimension ``sqrt(N0 / 2)`` that gives
    ``a_i = (2 i + 1) sqrt(6 / (D (L^2 - 1)))``. Cho & Yoon's bit-``k`` error probability
    (``k = 1 .. log2 L``, MSB first)

        ``P_k = (2 / L) Σ_{i=0}^{(1-2^-k) L - 1} (-1)^{floor(i 2^(k-1) / L)}
        (2^(k-1) - floor(i 2^(k-1) / L + 1/2)) Q(a_i sqrt(γ))``

    averaged over the ``log2 L`` bits gives ``w_i``.

    Returns:
        ``(w, a)``, float64 arrays ``[L - 1]``.
    """
    m = get_constellation(modulation).bits_per_symbol
    dims = 1 if m == 1 else 2
    bits_per_dim = m // dims
    levels = 1 << bits_per_dim
    k = np.arange(1, bits_per_dim + 1)[:, None]  # [K, 1]
    i = np.arange(levels - 1)[None, :]  # [1, L-1]
    half = 1 << (k - 1)  # 2^(k-1)
    sign = 1 - 2 * (((i * half) // levels) & 1)
    weight = half - (2 * i * half + levels) // (2 * levels)  # 2^(k-1) - floor(i 2^(k-1)/L + 1/2)
    active = i < levels - (levels >> k)
    w = (2.0 / (levels * bits_per_dim)) * np.sum(np.where(active, sign * weight, 0), axis=0)
    a = (2 * np.arange(levels - 1) + 1) * math.sqrt(6.0 / (dims * (levels**2 - 1)))
    return w, a


def _result(values: np.ndarray) -> np.ndarray:
    """Return a float64 array, or a NumPy scalar for a 0-d result."""
    return np.asarray(values, dtype=np.float64)[()]


def awgn_ber(modulation: str, esno_db: float | np.ndarray) -> np.ndarray:
    """Exact BER of Gray BPSK / QPSK / square M-QAM on AWGN.

    Args:
        modulation: a name from :data:`~semcomm.digital.qam.MODULATIONS`.
        esno_db: Es/N0 in dB per complex symbol, any shape.

    Returns:
        BER, float64 of the shape of ``esno_db`` (a NumPy scalar for a scalar):
        BPSK ``Q(sqrt(2 Es/N0))``, QPSK ``Q(sqrt(Es/N0))``, M-QAM Cho & Yoon (2002).

    Raises:
        ValueError: on an unknown modulation.
    """
    w, a = _q_series(modulation)
    root = np.sqrt(_esno(esno_db))[..., None]
    return _result(np.sum(w * _qfunc(a * root), axis=-1))


def awgn_ber_approx(modulation: str, esno_db: float | np.ndarray) -> np.ndarray:
    """Nearest-neighbour BER approximation of Gray square M-QAM on AWGN.

    ``(4 / log2 M)(1 - 1/sqrt(M)) Q(sqrt(3 (Es/N0) / (M - 1)))``, exact for QPSK and tight at
    high SNR. For BPSK (not a square QAM) it returns the exact ``Q(sqrt(2 Es/N0))``.

    Args:
        modulation: a name from :data:`~semcomm.digital.qam.MODULATIONS`.
        esno_db: Es/N0 in dB per complex symbol, any shape.

    Returns:
        BER, float64 of the shape of ``esno_db``.

    Raises:
        ValueError: on an unknown modulation.
    """
    m = get_constellation(modulation).bits_per_symbol
    esno = _esno(esno_db)
    if m == 1:
        return _result(_qfunc(np.sqrt(2.0 * esno)))
    size = 1 << m
    return _result((4.0 / m) * (1.0 - 1.0 / math.sqrt(size)) * _qfunc(np.sqrt(3.0 * esno / (size - 1))))


def fading_ber(
    modulation: str, esno_db: float | np.ndarray, power_gain: GainDistribution | None = None
) -> np.ndarray:
    """BER on flat fading with perfect receiver CSI (coherent detection after equalisation).

    Averages the exact AWGN BER over the instantaneous SNR ``g Es/N0``:
    ``E_g[Σ_i w_i Q(a_i sqrt(g γ))]``. Each term is rewritten (Fubini) as
    ``E_g[Q(a sqrt(g γ))] = ∫_0^∞ φ(t) F_g(t^2 / (a^2 γ)) dt`` with ``φ`` the standard normal
    pdf and ``F_g`` the cdf of the power gain: a bounded integrand on a fixed range
    (``t < 40``) whatever the SNR, so small BERs at high SNR keep their relative accuracy.
    ``scipy.integrate.quad`` runs with a relative tolerance only, and with break points at the
    images of quantiles of ``g`` (sharp steps of ``F_g`` for near-deterministic gains, e.g.
    Rician with a large K).

    Args:
        modulation: a name from :data:`~semcomm.digital.qam.MODULATIONS`.
        esno_db: average Es/N0 in dB per complex symbol, any shape.
        power_gain: frozen ``scipy.stats`` distribution of ``|h|^2`` on ``[0, ∞)`` with mean 1,
            e.g. ``scipy.stats.expon()`` (Rayleigh), ``scipy.stats.ncx2(df=2, nc=2 K,
            scale=1 / (2 (K + 1)))`` (Rician, K-factor ``K``), ``scipy.stats.gamma(m,
            scale=1 / m)`` (Nakagami-m); ``None`` for AWGN.

    Returns:
        BER, float64 of the shape of ``esno_db``.

    Raises:
        ValueError: on an unknown modulation, or a gain distribution with negative support or
            a mean other than 1.
    """
    if power_gain is None:
        return awgn_ber(modulation, esno_db)
    w, a = _q_series(modulation)
    lower = power_gain.support()[0]
    mean = power_gain.mean()
    if lower < 0 or not abs(mean - 1.0) <= 1e-6:
        raise ValueError(
            f"power_gain must be a distribution on [0, inf) with mean 1; got support from {lower}, mean {mean}"
        )
    g_breaks = power_gain.ppf(_BREAK_QUANTILES)
    esno = _esno(esno_db)

    def average(gamma: float) -> float:
        def integrand(t: float) -> float:
            return math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi) * float(
                np.dot(w, power_gain.cdf(t * t / (a * a * gamma)))
            )

        t_breaks = np.unique((a[:, None] * np.sqrt(gamma * g_breaks)).ravel())
        t_breaks = t_breaks[(t_breaks > 0) & (t_breaks < _T_MAX)]
        value, _, _, *message = integrate.quad(
            integrand,
            0.0,
            _T_MAX,
            points=t_breaks,
            epsabs=0.0,
            epsrel=1e-7,
            limit=200 + 2 * t_breaks.size,
            full_output=1,
        )
        if message and value > _QUIET_BELOW:
            warnings.warn(
                f"fading_ber at Es/N0 = {10 * math.log10(gamma):.2f} dB: {message[0]}",
                integrate.IntegrationWarning,
            )
        return value

    return _result(np.vectorize(average, otypes=[np.float64])(esno))


def rayleigh_ber_bpsk(esno_db: float | np.ndarray) -> np.ndarray:
    """Closed-form BPSK BER on Rayleigh fading with perfect CSI, ``γ = Es/N0``:
    ``(1 - sqrt(γ / (1 + γ))) / 2``, evaluated without cancellation at high SNR.

    Args:
        esno_db: average Es/N0 in dB per complex symbol, any shape.

    Returns:
        BER, float64 of the shape of ``esno_db``.
    """
    esno = _esno(esno_db)
    # 1 - sqrt(x) = (1 - x) / (1 + sqrt(x)) with 1 - x = 1 / (1 + γ).
    return _result(0.5 / (1.0 + esno) / (1.0 + np.sqrt(esno / (1.0 + esno))))


def rayleigh_ber_qpsk(esno_db: float | np.ndarray) -> np.ndarray:
    """Closed-form Gray QPSK BER on Rayleigh fading with perfect CSI: the BPSK expression
    with ``γ = Es/N0 / 2`` (each bit sees half the symbol energy).

    Args:
        esno_db: average Es/N0 in dB per complex symbol, any shape.

    Returns:
        BER, float64 of the shape of ``esno_db``.
    """
    return rayleigh_ber_bpsk(np.asarray(esno_db, dtype=np.float64) - 10.0 * math.log10(2.0))
