"""Confidence intervals for Monte-Carlo estimates."""

from __future__ import annotations

import math

__all__ = ["binomial_ci95", "Z95"]

#: Two-sided 95 % standard-normal quantile.
Z95 = 1.959963984540054


def binomial_ci95(successes: int, trials: int) -> tuple[float, float]:
    """Wilson score interval (95 %) for a binomial proportion, e.g. a BER from ``errors / bits``.

    Unlike the normal approximation it stays inside [0, 1] and is informative at 0 errors.
    """
    if trials <= 0:
        raise ValueError(f"trials must be > 0, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in 0..{trials}, got {successes}")
    p = successes / trials
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))
