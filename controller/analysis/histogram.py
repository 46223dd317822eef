"""Prometheus classic histograms: quantiles, per-bucket counts, and SLO shares.

Buckets are given as (upper bound, cumulative count) pairs in any order, or a mapping
upper bound -> cumulative count, and must include the +Inf bucket.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping

Buckets = Mapping[float, float] | Iterable[tuple[float, float]]


def _normalise(buckets: Buckets) -> list[tuple[float, float]]:
    pairs = list(buckets.items()) if isinstance(buckets, Mapping) else list(buckets)
    pairs = sorted((float(le), float(c)) for le, c in pairs)
    if not pairs or pairs[-1][0] != math.inf:
        raise ValueError("buckets must include the +Inf bucket")
    bounds = [le for le, _ in pairs]
    if len(set(bounds)) != len(bounds) or any(math.isnan(b) for b in bounds):
        raise ValueError("buckets must have distinct, non-NaN upper bounds")
    counts = [c for _, c in pairs]
    if any(not math.isfinite(c) or c < 0 for c in counts):
        raise ValueError("bucket counts must be finite and >= 0")
    if any(later < earlier for earlier, later in itertools.pairwise(counts)):
        raise ValueError("bucket counts must be cumulative (non-decreasing with the bound)")
    return pairs


def histogram_quantile(q: float, buckets: Buckets) -> float:
    """Prometheus' histogram_quantile for classic buckets: linear interpolation inside the
    bucket that holds rank q * total; the first bucket starts at 0 (unless its bound is
    <= 0); a rank in the +Inf bucket gives the largest finite bound. NaN without data."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    pairs = _normalise(buckets)
    total = pairs[-1][1]
    if len(pairs) < 2 or total == 0:
        return math.nan
    rank = q * total
    index = next(i for i, (_, c) in enumerate(pairs) if c >= rank)
    if index == len(pairs) - 1:
        return pairs[-2][0]
    upper, count = pairs[index]
    if index == 0:
        if upper <= 0:
            return upper
        lower, below = 0.0, 0.0
    else:
        lower, below = pairs[index - 1]
    in_bucket = count - below
    if in_bucket == 0:  # only for q = 0 on an empty first bucket: the start of the range
        return lower
    return lower + (upper - lower) * (rank - below) / in_bucket


def cumulative_to_counts(buckets: Buckets) -> tuple[float, ...]:
    """Per-bucket (non-cumulative) counts in ascending bound order, +Inf bucket last."""
    pairs = _normalise(buckets)
    counts = [c for _, c in pairs]
    return tuple(c - prev for prev, c in zip([0.0, *counts[:-1]], counts, strict=True))


def bucket_bounds(buckets: Buckets) -> tuple[float, ...]:
    """Upper bounds in ascending order, +Inf last."""
    return tuple(le for le, _ in _normalise(buckets))


def share_slower_than(buckets: Buckets, threshold: float) -> tuple[float, float]:
    """(requests slower than threshold, all requests): an exact binomial count when the
    threshold is a bucket boundary. Any other threshold would need interpolation inside a
    bucket, which is a guess, so it is refused."""
    pairs = _normalise(buckets)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite bucket boundary, got {threshold}")
    match = [c for le, c in pairs if math.isclose(le, threshold, rel_tol=1e-9, abs_tol=1e-12)]
    if not match:
        finite = [le for le, _ in pairs[:-1]]
        raise ValueError(f"threshold {threshold} is not a bucket boundary; "
                         f"use one of {finite}")
    total = pairs[-1][1]
    return total - match[0], total
