"""Relative effects (lift) and quantiles from histogram buckets, with their standard errors.

Lift = mu_B / mu_A - 1, delta method for the ratio of two independent estimates:
    Var(lift) ~= Var(mu_B) / mu_A^2 + mu_B^2 Var(mu_A) / mu_A^4.

A quantile from classic buckets (Woodruff 1952): the q-quantile's rank among n observations
has standard deviation sqrt(n q (1 - q)); the (1 - a) interval of ranks n q -/+ z sqrt(n q
(1 - q)) mapped through the same linear interpolation as histogram_quantile gives an
interval for the quantile, and half its width over z its standard error (the density
averaged over that neighbourhood, which is what bucket counts can tell). That normal
approximation needs observations on both sides of the quantile: with fewer than
MIN_TAIL_OBSERVATIONS beyond it, a p99 is the few slowest requests and its "standard error"
is an artefact of where the bucket bounds lie (an A/A p99 guardrail with no tolerance,
near a bound, 7 candidate requests a look, failed 10% of runs at alpha 5%), so the quantile
is not estimated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats as sps

from controller.analysis.histogram import histogram_quantile

Pairs = Sequence[tuple[float, float]]

# Woodruff's neighbourhood: the ranks of a 95% interval (a standard choice; the rollout
# test itself is the always-valid one, this only measures the local density).
WOODRUFF_Z = float(sps.norm.isf(0.025))

# Observations each variant needs beyond (and before) its q-quantile before it is estimated:
# the usual floor for a normal approximation of a binomial count (n p >= 10).
MIN_TAIL_OBSERVATIONS = 10


def quantile_min_samples(q: float) -> int:
    """Requests a variant needs before its q-quantile is estimated: p99 1,000, p50 20."""
    return math.ceil(MIN_TAIL_OBSERVATIONS / min(q, 1 - q) - 1e-9)


def relative_lift(level_a: float, var_a: float, level_b: float, var_b: float
                  ) -> tuple[float, float] | None:
    """(lift, variance of lift), or None when the stable's level is not positive."""
    if not level_a > 0 or not (math.isfinite(var_a) and math.isfinite(var_b)):
        return None
    lift = level_b / level_a - 1
    variance = var_b / level_a**2 + level_b**2 * var_a / level_a**4
    return lift, variance


def quantile_interval(buckets: Pairs, q: float, z: float = WOODRUFF_Z
                      ) -> tuple[float, float, float]:
    """(quantile, low, high): Woodruff's interval for the q-quantile from cumulative bucket
    counts (NaNs without data). A rank beyond the last finite bound maps to that bound, as
    histogram_quantile does: buckets cannot see further."""
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    pairs = sorted((float(le), float(c)) for le, c in buckets)
    n = pairs[-1][1] if pairs else 0.0
    value = histogram_quantile(q, pairs)
    if not n > 0:
        return value, math.nan, math.nan
    spread = z * math.sqrt(n * q * (1 - q))
    low_rank, high_rank = max(n * q - spread, 0.0), min(n * q + spread, n)
    return value, histogram_quantile(low_rank / n, pairs), histogram_quantile(high_rank / n, pairs)


def quantile_standard_error(buckets: Pairs, q: float) -> tuple[float, float, float]:
    """(quantile, its standard error, observations) from Woodruff's interval."""
    value, low, high = quantile_interval(buckets, q)
    n = max((c for _, c in buckets), default=0.0)
    if math.isnan(low):
        return value, math.nan, float(n)
    return value, (high - low) / (2 * WOODRUFF_Z), float(n)
