"""Classic (fixed-horizon) tests comparing baseline A with candidate B.

Every function returns a StatResult whose estimate is B - A. These tests are valid for ONE
look at the data; the rollout engine looks every interval, so guardrail decisions use
controller.analysis.sequential and these serve as reports and fallbacks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from controller.analysis.types import Alternative, StatResult

FloatArray = npt.NDArray[np.float64]
_ALTERNATIVES = ("two-sided", "greater", "less")


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _check_alternative(alternative: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")


def _check_counts(successes: int, trials: int, arm: str) -> None:
    if trials <= 0:
        raise ValueError(f"trials_{arm} must be > 0, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes_{arm} must be in [0, trials_{arm}], got {successes}")


def _p_from_z(z: float, alternative: Alternative) -> float:
    if alternative == "greater":
        return float(sps.norm.sf(z))
    if alternative == "less":
        return float(sps.norm.cdf(z))
    return float(2 * sps.norm.sf(abs(z)))


def two_proportion_z(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> StatResult:
    """Pooled two-proportion z test with an unpooled (Wald) two-sided 1-alpha CI on p_B - p_A."""
    _check_counts(successes_a, trials_a, "a")
    _check_counts(successes_b, trials_b, "b")
    _check_alpha(alpha)
    _check_alternative(alternative)
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    diff = p_b - p_a
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    # No successes (or no failures) at all: both rates are equal, so z is 0.
    z = diff / se_pooled if se_pooled > 0 else 0.0
    p_value = _p_from_z(z, alternative)
    se = math.sqrt(p_a * (1 - p_a) / trials_a + p_b * (1 - p_b) / trials_b)
    half = float(sps.norm.isf(alpha / 2)) * se
    return StatResult("two-proportion-z", trials_a, trials_b, diff, diff - half, diff + half,
                      p_value, z)


def _wilson(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    ci = sps.binomtest(successes, trials).proportion_ci(1 - alpha, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, *, alpha: float = 0.05
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_B - p_A; sound with few successes."""
    _check_counts(successes_a, trials_a, "a")
    _check_counts(successes_b, trials_b, "b")
    _check_alpha(alpha)
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    lo_a, hi_a = _wilson(successes_a, trials_a, alpha)
    lo_b, hi_b = _wilson(successes_b, trials_b, alpha)
    diff = p_b - p_a
    low = diff - math.sqrt((p_b - lo_b) ** 2 + (hi_a - p_a) ** 2)
    high = diff + math.sqrt((hi_b - p_b) ** 2 + (p_a - lo_a) ** 2)
    return low, high


def fisher_exact_2x2(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> StatResult:
    """Fisher's exact test; statistic is the odds ratio of B vs A, CI is Newcombe's."""
    _check_alternative(alternative)
    low, high = newcombe_interval(successes_a, trials_a, successes_b, trials_b, alpha=alpha)
    # B in the first row, so scipy's "greater" (odds ratio > 1) means p_B > p_A.
    table = [[successes_b, trials_b - successes_b], [successes_a, trials_a - successes_a]]
    res = sps.fisher_exact(table, alternative=alternative)
    diff = successes_b / trials_b - successes_a / trials_a
    return StatResult("fisher-exact", trials_a, trials_b, diff, low, high,
                      float(res.pvalue), float(res.statistic))


def min_expected_cell(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float:
    """Smallest expected count of the 2x2 table under homogeneity."""
    _check_counts(successes_a, trials_a, "a")
    _check_counts(successes_b, trials_b, "b")
    total = trials_a + trials_b
    succ = successes_a + successes_b
    col_totals = (succ, total - succ)
    return min(t * c / total for t in (trials_a, trials_b) for c in col_totals)


def proportion_test(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> StatResult:
    """z test, or Fisher's exact test when an expected cell is below 5 (rare errors)."""
    small = min_expected_cell(successes_a, trials_a, successes_b, trials_b) < 5
    test = fisher_exact_2x2 if small else two_proportion_z
    return test(successes_a, trials_a, successes_b, trials_b, alpha=alpha,
                alternative=alternative)


def summary_from_sums(count: float, total: float, sum_squares: float) -> tuple[float, float, float]:
    """(n, mean, sample variance) from what Prometheus exports: count, sum, sum of squares."""
    if count < 2:
        raise ValueError(f"count must be >= 2 for a sample variance, got {count}")
    if sum_squares < 0:
        raise ValueError(f"sum_squares must be >= 0, got {sum_squares}")
    mean = total / count
    # Cancellation can push a tiny variance below zero; it cannot really be negative.
    var = max((sum_squares - count * mean * mean) / (count - 1), 0.0)
    return float(count), float(mean), float(var)


def welch_t(
    n_a: float,
    mean_a: float,
    var_a: float,
    n_b: float,
    mean_b: float,
    var_b: float,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> StatResult:
    """Welch's t test from summary statistics, with a two-sided 1-alpha CI on mean_B - mean_A."""
    for name, n in (("n_a", n_a), ("n_b", n_b)):
        if n < 2:
            raise ValueError(f"{name} must be >= 2, got {n}")
    for name, v in (("var_a", var_a), ("var_b", var_b)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    _check_alpha(alpha)
    _check_alternative(alternative)
    se_a2, se_b2 = var_a / n_a, var_b / n_b
    se = math.sqrt(se_a2 + se_b2)
    if se == 0:
        raise ValueError("var_a and var_b are both zero: the t statistic is undefined")
    df = (se_a2 + se_b2) ** 2 / (se_a2**2 / (n_a - 1) + se_b2**2 / (n_b - 1))
    res = sps.ttest_ind_from_stats(mean_b, math.sqrt(var_b), n_b, mean_a, math.sqrt(var_a), n_a,
                                   equal_var=False, alternative=alternative)
    diff = mean_b - mean_a
    half = float(sps.t.isf(alpha / 2, df)) * se
    return StatResult("welch-t", n_a, n_b, diff, diff - half, diff + half,
                      float(res.pvalue), float(res.statistic), df)


def _as_sample(values: Sequence[float] | FloatArray, name: str) -> FloatArray:
    arr = np.sort(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sequence")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite numbers")
    return arr


def _diff_order_statistic(a: FloatArray, b: FloatArray, k: int) -> float:
    """k-th smallest (0-based) of all b_j - a_i without materialising n_a * n_b values."""

    def count_le(v: float) -> int:
        # b_j - a_i <= v  <=>  a_i >= b_j - v
        return int(a.size * b.size - np.searchsorted(a, b - v, side="left").sum())

    lo, hi = float(b[0] - a[-1]), float(b[-1] - a[0])
    for _ in range(200):
        if hi - lo <= 1e-13 * max(1.0, abs(lo), abs(hi)):
            break
        mid = (lo + hi) / 2
        if count_le(mid) >= k + 1:
            hi = mid
        else:
            lo = mid
    return hi


def hodges_lehmann(
    a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray, *, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Hodges-Lehmann shift of B vs A (median of b_j - a_i) and its distribution-free CI
    from order statistics of the differences (normal approximation for the rank)."""
    _check_alpha(alpha)
    sa, sb = _as_sample(a, "a"), _as_sample(b, "b")
    n_pairs = sa.size * sb.size
    mid = (n_pairs - 1) // 2
    estimate = _diff_order_statistic(sa, sb, mid)
    if n_pairs % 2 == 0:
        estimate = (estimate + _diff_order_statistic(sa, sb, mid + 1)) / 2
    sd_u = math.sqrt(sa.size * sb.size * (sa.size + sb.size + 1) / 12)
    k = max(0, math.floor(n_pairs / 2 - float(sps.norm.isf(alpha / 2)) * sd_u))
    low = _diff_order_statistic(sa, sb, k)
    high = _diff_order_statistic(sa, sb, n_pairs - 1 - k)
    return estimate, low, high


def mann_whitney(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> StatResult:
    """Mann-Whitney U (scipy); "greater" means B tends to be larger. Statistic is U of B;
    estimate and CI are the Hodges-Lehmann shift."""
    _check_alternative(alternative)
    sa, sb = _as_sample(a, "a"), _as_sample(b, "b")
    res = sps.mannwhitneyu(sb, sa, alternative=alternative)
    est, low, high = hodges_lehmann(sa, sb, alpha=alpha)
    return StatResult("mann-whitney", float(sa.size), float(sb.size), est, low, high,
                      float(res.pvalue), float(res.statistic))


def mann_whitney_counts_z(
    counts_a: npt.ArrayLike, counts_b: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Vectorised Mann-Whitney for data grouped into ordered bins (histogram buckets,
    0/1 outcomes): returns (U of B, tie-corrected standard score without continuity
    correction). The last axis holds the bins; leading axes broadcast."""
    ca, cb = np.asarray(counts_a, dtype=np.float64), np.asarray(counts_b, dtype=np.float64)
    if np.any(ca < 0) or np.any(cb < 0):
        raise ValueError("counts_a and counts_b must be >= 0")
    n_a, n_b = ca.sum(axis=-1), cb.sum(axis=-1)
    below_a = np.cumsum(ca, axis=-1) - ca  # A values in lower bins than each bin
    u_b = (cb * (below_a + 0.5 * ca)).sum(axis=-1)  # ties within a bin count half
    n = n_a + n_b
    ties = ca + cb
    tie_term = (ties**3 - ties).sum(axis=-1) / np.maximum(n * (n - 1), 1.0)
    var = n_a * n_b / 12 * ((n + 1) - tie_term)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (u_b - n_a * n_b / 2) / np.sqrt(np.maximum(var, 0.0)), 0.0)
    return u_b, z


def chi_square_homogeneity(counts_a: Sequence[float], counts_b: Sequence[float]) -> StatResult:
    """Pearson chi-square over non-cumulative bucket counts: has the distribution moved?
    Estimate is the total variation distance between the two bucket distributions."""
    ca, cb = np.asarray(counts_a, dtype=np.float64), np.asarray(counts_b, dtype=np.float64)
    if ca.ndim != 1 or ca.shape != cb.shape or ca.size < 2:
        raise ValueError("counts_a and counts_b must be 1-d with the same length >= 2")
    both = np.concatenate([ca, cb])
    if np.any(both < 0) or not np.all(np.isfinite(both)):
        raise ValueError("counts_a and counts_b must be finite and >= 0")
    n_a, n_b = float(ca.sum()), float(cb.sum())
    if n_a <= 0 or n_b <= 0:
        raise ValueError("counts_a and counts_b must each have a positive total")
    tvd = float(0.5 * np.abs(cb / n_b - ca / n_a).sum())
    used = (ca + cb) > 0  # empty buckets carry no information and break expected counts
    if used.sum() < 2:
        return StatResult("chi-square-homogeneity", n_a, n_b, tvd, None, None, 1.0, 0.0, 0.0)
    chi2, p_value, dof, _ = sps.chi2_contingency(np.vstack([ca[used], cb[used]]),
                                                 correction=False)
    return StatResult("chi-square-homogeneity", n_a, n_b, tvd, None, None,
                      float(p_value), float(chi2), float(dof))


def mcnemar(
    baseline_only: int, candidate_only: int, n_pairs: int, *, alpha: float = 0.05
) -> StatResult:
    """Continuity-corrected McNemar test for paired (shadow) comparisons.

    baseline_only: pairs where only the baseline was right (b); candidate_only: only the
    candidate was right (c). Estimate is accuracy_B - accuracy_A = (c - b) / n_pairs with a
    Wald CI for paired proportions.
    """
    _check_alpha(alpha)
    if baseline_only < 0 or candidate_only < 0:
        raise ValueError("baseline_only and candidate_only must be >= 0")
    discordant = baseline_only + candidate_only
    if n_pairs < max(discordant, 1):
        raise ValueError(f"n_pairs must be >= baseline_only + candidate_only and > 0, "
                         f"got {n_pairs}")
    diff = (candidate_only - baseline_only) / n_pairs
    var = (discordant / n_pairs - diff**2) / n_pairs
    half = float(sps.norm.isf(alpha / 2)) * math.sqrt(max(var, 0.0))
    if discordant == 0:
        return StatResult("mcnemar", n_pairs, n_pairs, diff, diff - half, diff + half, 1.0, 0.0,
                          1.0)
    # Like R: no correction when b == c (the corrected value would be negative).
    stat = max(abs(candidate_only - baseline_only) - 1, 0) ** 2 / discordant
    p_value = float(sps.chi2.sf(stat, 1))
    return StatResult("mcnemar", n_pairs, n_pairs, diff, diff - half, diff + half, p_value,
                      stat, 1.0)
