"""The interval over training seeds (``semcomm.stats.mean_ci95``): Student's t, not the normal
1.96, and it covers the true mean 95 % of the time at n = 3."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semcomm.stats import format_mean_ci95, mean_ci95, varying_share


def test_three_values_use_students_t() -> None:
    mean, half = mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.3026527297 / math.sqrt(3), rel=1e-9)  # t_{0.975, 2} * s / sqrt(n), s = 1


def test_one_value_has_no_interval_and_none_is_an_error() -> None:
    mean, half = mean_ci95([5.0])
    assert mean == 5.0 and math.isnan(half)
    with pytest.raises(ValueError, match="at least one"):
        mean_ci95([])


def test_coverage_is_95_percent_with_three_seeds() -> None:
    rng = np.random.default_rng(0)
    draws = rng.normal(10.0, 2.0, size=(4000, 3))
    covered = 0
    for row in draws:
        mean, half = mean_ci95(row.tolist())
        covered += abs(mean - 10.0) <= half
    assert 0.935 <= covered / len(draws) <= 0.965  # 1.96 instead of t would cover about 81 %


def test_format_rounds_mean_and_half_width_and_marks_what_is_missing() -> None:
    # 1, 2, 3: mean 2, s = 1, half-width t_{0.975,2} / sqrt(3) = 2.4841 (4.3027 / 1.7321)
    assert format_mean_ci95([1.0, 2.0, 3.0], 2) == "2.00±2.48"
    assert format_mean_ci95([0.7251], 1) == "0.7"
    assert format_mean_ci95([], 1) == "–"


def test_varying_share_is_zero_for_a_constant_feature_and_the_variance_over_the_energy() -> None:
    import torch

    constant = torch.tensor([[3.0, -1.0]]).repeat(50, 1)
    assert varying_share(constant) == 0.0
    # rows (1, 0) and (3, 0): mean (2, 0), variance 1, energy (1 + 9) / 2 = 5
    assert varying_share(torch.tensor([[1.0, 0.0], [3.0, 0.0]])) == pytest.approx(0.2, rel=1e-12)
    assert varying_share(torch.tensor([[1.0, -2.0], [-1.0, 2.0]])) == pytest.approx(1.0, rel=1e-12)
    assert math.isnan(varying_share(torch.zeros(4, 3)))
