"""Confidence intervals for Monte-Carlo estimates."""

from __future__ import annotations

import math

import torch

__all__ = ["RunningMean", "Z95", "binomial_ci95", "format_mean_ci95", "mean_ci95", "varying_share"]

#: Two-sided 95 % standard-normal quantile.
Z95 = 1.959963984540054


def binomial_ci95(successes: int, trials: int) -> tuple[float, float]:
    """Wilson score interval (95 %) for a binomial proportion ``successes / trials``.

    Unlike the normal approximation it stays inside [0, 1] and is informative at 0 successes.
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


class RunningMean:
    """Mean of i.i.d. samples (per-image PSNR, per-frame BER, ...) with a 95 % normal interval,
    accumulated batch by batch in float64.

    The samples must be independent: for block fading, feed one value per fading block or
    frame, not one per bit, or the interval comes out too narrow.
    """

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.total_sq = 0.0

    def update(self, values: torch.Tensor) -> None:
        """Add a batch of samples (any shape; every element is one sample)."""
        v = values.detach().double().flatten()
        self.count += v.numel()
        self.total += float(v.sum())
        self.total_sq += float(v.square().sum())

    @property
    def mean(self) -> float:
        if self.count == 0:
            raise ValueError("RunningMean has no samples")
        return self.total / self.count

    def ci95_halfwidth(self) -> float:
        """``1.96 * s / sqrt(n)`` with the unbiased sample standard deviation ``s`` (nan for n < 2)."""
        if self.count < 2:
            return math.nan
        var = max(0.0, (self.total_sq - self.count * self.mean**2) / (self.count - 1))
        return Z95 * math.sqrt(var / self.count)


def mean_ci95(values: list[float] | tuple[float, ...]) -> tuple[float, float]:
    """Mean of a few independent repetitions (one number per training seed) and the half-width
    of its 95 % Student-t interval, ``t_{0.975, n-1} * s / sqrt(n)`` (nan for one value).

    Input: ``values``, one per repetition (``n >= 1``). Output: ``(mean, half_width)``.
    """
    n = len(values)
    if n == 0:
        raise ValueError("mean_ci95 needs at least one value")
    mean = math.fsum(values) / n
    if n < 2:
        return mean, math.nan
    from scipy.stats import t

    s = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(t.ppf(0.975, n - 1)) * s / math.sqrt(n)



def format_mean_ci95(values: list[float] | tuple[float, ...], digits: int = 2) -> str:
    """``"mean±half"`` of :func:`mean_ci95` to ``digits`` decimals (``"mean"`` with one value,
    ``"–"`` with none): one table cell of a quantity measured over a few seeds."""
    if not values:
        return "–"
    mean, half = mean_ci95(values)
    return f"{mean:.{digits}f}" + ("" if math.isnan(half) else f"±{half:.{digits}f}")


def varying_share(features: torch.Tensor) -> float:
    """The share of a feature's energy that varies across examples,
    ``sum_f Var_n(x[n, f]) / mean_n ||x[n]||²`` (population variance), in [0, 1]: 0 for a feature
    that is the same for every input (it carries nothing a head could read), 1 for one whose mean
    over the examples is zero.

    Input: ``features`` ``[N, F]``, one row per example (``N >= 1``). Output: the share (nan for an
    all-zero feature).
    """
    x = features.double()
    energy = float(x.square().sum(1).mean())
    if energy == 0.0:
        return math.nan
    return float(x.var(0, unbiased=False).sum()) / energy
