"""Prometheus histogram semantics."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.analysis import histogram as h

pytestmark = pytest.mark.unit

INF = math.inf
PUBLIC = {0.1: 50, 0.2: 70, 1: 110, INF: 120}


@pytest.mark.parametrize(("q", "expected"), [(0.2, 0.048), (0.5, 0.15), (0.8, 0.72), (1.0, 1.0)])
def test_histogram_quantile_public_values(q: float, expected: float) -> None:
    assert h.histogram_quantile(q, PUBLIC) == pytest.approx(expected, rel=1e-12)


def test_histogram_quantile_edges_follow_prometheus() -> None:
    assert h.histogram_quantile(-0.1, PUBLIC) == -INF
    assert h.histogram_quantile(1.1, PUBLIC) == INF
    assert math.isnan(h.histogram_quantile(0.5, {0.1: 0, INF: 0}))
    assert math.isnan(h.histogram_quantile(0.5, {INF: 10}))
    assert h.histogram_quantile(0.5, {-1.0: 10, INF: 10}) == -1.0
    # Order of the pairs does not matter.
    shuffled = [(INF, 120), (0.2, 70), (0.1, 50), (1, 110)]
    assert h.histogram_quantile(0.5, shuffled) == pytest.approx(0.15)


def test_cumulative_to_counts() -> None:
    assert h.cumulative_to_counts(PUBLIC) == (50.0, 20.0, 40.0, 10.0)
    assert h.bucket_bounds(PUBLIC) == (0.1, 0.2, 1.0, INF)


def test_share_slower_than_boundary() -> None:
    assert h.share_slower_than(PUBLIC, 0.2) == (50.0, 120.0)
    assert h.share_slower_than(PUBLIC, 1.0) == (10.0, 120.0)


def test_share_slower_than_refuses_non_boundary() -> None:
    with pytest.raises(ValueError, match=r"threshold 0\.3 is not a bucket boundary"):
        h.share_slower_than(PUBLIC, 0.3)
    with pytest.raises(ValueError, match="threshold"):
        h.share_slower_than(PUBLIC, INF)


@pytest.mark.parametrize(
    ("buckets", "message"),
    [({0.1: 5}, r"\+Inf"), ({0.1: 5, 0.2: 3, INF: 6}, "cumulative"),
     ({0.1: -1, INF: 6}, ">= 0")],
)
def test_invalid_buckets(buckets: dict[float, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        h.cumulative_to_counts(buckets)


@settings(deadline=None, max_examples=80)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=8), st.floats(0, 1), st.floats(0, 1))
def test_quantile_is_monotone_and_within_bounds(per_bucket: list[int], q1: float,
                                                q2: float) -> None:
    bounds = [0.05 * 2**i for i in range(len(per_bucket))] + [INF]
    cumulative = [sum(per_bucket[: i + 1]) for i in range(len(per_bucket))]
    buckets = dict(zip(bounds, [*cumulative, cumulative[-1] + 3], strict=True))
    lo, hi = sorted((q1, q2))
    a, b = h.histogram_quantile(lo, buckets), h.histogram_quantile(hi, buckets)
    assert 0 <= a <= b <= bounds[-2]
    assert sum(h.cumulative_to_counts(buckets)) == pytest.approx(cumulative[-1] + 3)
