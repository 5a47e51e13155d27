"""The benchmarks' percentile: the statistic the load targets are judged by."""

import math

import pytest

from bench.common import median, percentile


@pytest.mark.parametrize(("n", "q", "rank"), [
    (20, 95, 19),   # 20 calls an endpoint (bench.load's default): p95 is the 19th, not the max
    (20, 50, 10),
    (40, 95, 38),
    (100, 95, 95),
    (100, 99, 99),
    (7, 95, 7),
    (1, 95, 1),
])
def test_nearest_rank(n, q, rank):
    values = [float(v) for v in range(n, 0, -1)]  # unsorted on purpose
    assert percentile(values, q) == float(rank)


def test_p100_and_p0_are_the_extremes():
    values = [0.3, 0.1, 0.9, 0.5]
    assert percentile(values, 100) == 0.9
    assert percentile(values, 0) == 0.1


def test_no_values():
    assert math.isnan(percentile([], 95))
    assert math.isnan(median([]))
