"""The percentile sketch: exact counts and means, quantiles within the stated bound, merging."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gigawatt.sim.sketch import RATIO, LogHistogram, bin_of, bin_value

BOUND = math.sqrt(RATIO) - 1.0 + 1e-12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantiles_within_one_percent_of_one_plus_the_exact_value(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate(
        (np.zeros(300), rng.lognormal(7.0, 2.0, 5_000), rng.uniform(0.0, 2.0, 500))
    )
    h = LogHistogram()
    for v in values.tolist():
        h.add(v)
    assert h.count == len(values)
    assert h.mean == pytest.approx(float(values.mean()), rel=1e-12)
    for q in (0.0, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        exact = float(np.percentile(values, q * 100))
        got = h.quantile(q)
        assert abs((1.0 + got) / (1.0 + exact) - 1.0) <= BOUND, (q, exact, got)


def test_zero_is_exact_and_bins_are_bounded() -> None:
    h = LogHistogram()
    for _ in range(10):
        h.add(0.0)
    assert h.quantile(0.5) == 0.0 and h.stats()["p99"] == 0.0
    for v in np.geomspace(0.001, 1e8, 100_000).tolist():
        h.add(v)
    assert len(h.bins) <= math.log(1e8 + 1) / math.log(RATIO) + 2  # ~930 whatever the count
    assert bin_value(bin_of(1234.5)) == pytest.approx(1234.5, rel=0.011)


def test_merge_counts_the_union() -> None:
    a, b, both = LogHistogram(), LogHistogram(), LogHistogram()
    for k, v in enumerate(np.linspace(0.0, 1e5, 2_001).tolist()):
        (a if k % 2 else b).add(v)
        both.add(v)
    merged = LogHistogram.merged([a, b])
    assert merged.occupied() == both.occupied() and merged.count == both.count
    assert merged.total == pytest.approx(both.total)
    assert LogHistogram().quantile(0.5) == 0.0 and LogHistogram().cdf_points() == []
    assert 1_990 <= len(both.cdf_points()) <= 2_000  # at most 2,000 points for a chart
