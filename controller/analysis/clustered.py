"""Users (not requests) as the unit of analysis: variance across hashed unit buckets.

With sticky assignment every request of a user lands in one arm, and users differ (a few send
most requests; some fail far more often), so requests are not independent and the binomial
variance p(1 - p) / n understates the truth. The router hashes each unit into one of K
buckets, independently of the arm hash, and counts per bucket. A unit's requests all fall in
one bucket, so the K bucket totals of an arm are independent draws and the variance of the
arm's ratio M = sum X / sum Y follows from their spread by the delta method (Deng, Knoblich
and Lu, KDD 2018, on bucket sums instead of user sums):

    Var(M) ~= Var_k(X_k - M Y_k) / (K * mean(Y)^2)      (sample variance, K - 1 df)

which is (s_X^2 - 2 M s_XY + M^2 s_Y^2) / (K Ybar^2) written as one variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controller.analysis.sequential import proportion_variance
from controller.contract.metrics import MAX_UNIT_BUCKETS


@dataclass(frozen=True, slots=True)
class BucketedRatio:
    """One arm's ratio, the variance of that ratio and the buckets it came from."""

    ratio: float
    variance: float
    buckets: int
    trials: float

    @property
    def df(self) -> float:
        return float(self.buckets - 1)


def delta_ratio_variance(numerators: npt.ArrayLike, denominators: npt.ArrayLike) -> float:
    """Delta-method variance of sum(x) / sum(y) from independent (x, y) pairs: per-unit sums,
    or per-bucket sums. Needs at least two pairs and a positive total."""
    x = np.asarray(numerators, dtype=np.float64)
    y = np.asarray(denominators, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError("need at least two (numerator, denominator) pairs of equal length")
    total = float(y.sum())
    if not total > 0:
        raise ValueError("the denominators must have a positive total")
    ratio = float(x.sum()) / total
    residual = x - ratio * y
    return float(residual.var(ddof=1)) / (x.size * float(y.mean()) ** 2)


def bucketed_ratio(successes: Sequence[float], trials: Sequence[float]) -> BucketedRatio:
    """The arm's rate with its unit-level variance. Never below the request-level
    (binomial) variance: K bucket totals give a noisy variance, and one where every bucket
    has no failure yet would otherwise claim an exact rate."""
    if len(successes) > MAX_UNIT_BUCKETS:
        raise ValueError(f"at most {MAX_UNIT_BUCKETS} unit buckets, got {len(successes)}")
    total_trials = float(sum(trials))
    total_successes = float(sum(successes))
    ratio = total_successes / total_trials
    variance = delta_ratio_variance(successes, trials)
    whole_s, whole_t = round(total_successes), round(total_trials)
    floor = proportion_variance(min(whole_s, whole_t), whole_t) if whole_t > 0 else 0.0
    return BucketedRatio(ratio, max(variance, floor), len(successes), total_trials)


def welch_df(var_a: float, df_a: float, var_b: float, df_b: float) -> float | None:
    """Welch-Satterthwaite degrees of freedom of var_a + var_b (None: no variance)."""
    denominator = (var_a**2 / df_a if df_a > 0 else 0.0) + (var_b**2 / df_b if df_b > 0 else 0.0)
    if denominator <= 0 or not math.isfinite(denominator):
        return None
    return (var_a + var_b) ** 2 / denominator
