"""One metric's observations reduced to what the sequential test needs: an estimate of
candidate - stable, its variance, each arm's level (for the lift and relative margins) and,
for unit-bucketed metrics, the degrees of freedom of the variance."""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.analysis.clustered import bucketed_ratio, welch_df
from controller.analysis.effects import (
    MIN_TAIL_OBSERVATIONS,
    quantile_min_samples,
    quantile_standard_error,
)
from controller.analysis.histogram import cumulative_to_counts, share_slower_than
from controller.analysis.sequential import proportion_variance
from controller.analysis.stats import chi_square_homogeneity, summary_from_sums
from controller.analysis.types import (
    HistogramObservation,
    MeanObservation,
    MetricConfig,
    MetricKind,
    ProportionObservation,
    UnitBucketedObservation,
    VariantObservation,
)


@dataclass(frozen=True, slots=True)
class Comparison:
    """B - A with its variance; ``level_*`` are each arm's value (rate, mean, quantile) and
    ``var_level_*`` the variances of those estimates (their sum is ``variance``)."""

    estimate: float
    variance: float
    n_a: float
    n_b: float
    var_a: float  # per-observation variance of the baseline (sizing)
    var_b: float  # per-observation variance of the candidate
    rate_a: float | None = None  # baseline rate, for rate metrics (variance depends on it)
    shift_p_value: float | None = None
    level_a: float | None = None
    level_b: float | None = None
    var_level_a: float = 0.0
    var_level_b: float = 0.0
    df: float | None = None  # of the variance, when estimated across unit buckets
    unit_buckets: int | None = None
    why_not_estimated: str = ""  # why the comparison carries no information yet, in words


def _rate_variance(successes: int, trials: int) -> float:
    return proportion_variance(successes, trials) * trials


def compare_rates(sa: int, ta: int, sb: int, tb: int) -> Comparison:
    var_a, var_b = proportion_variance(sa, ta), proportion_variance(sb, tb)
    return Comparison(sb / tb - sa / ta, var_a + var_b, ta, tb, _rate_variance(sa, ta),
                      _rate_variance(sb, tb), sa / ta, level_a=sa / ta, level_b=sb / tb,
                      var_level_a=var_a, var_level_b=var_b)


def compare_unit_buckets(a: UnitBucketedObservation, b: UnitBucketedObservation
                         ) -> Comparison:
    """Rates whose variance comes from the spread across unit buckets (K - 1 df each)."""
    ra, rb = bucketed_ratio(a.successes, a.trials), bucketed_ratio(b.successes, b.trials)
    # Per-observation variances for sizing: the design effect is carried by n * Var.
    return Comparison(rb.ratio - ra.ratio, ra.variance + rb.variance, ra.trials, rb.trials,
                      ra.variance * ra.trials, rb.variance * rb.trials, ra.ratio,
                      level_a=ra.ratio, level_b=rb.ratio, var_level_a=ra.variance,
                      var_level_b=rb.variance,
                      df=welch_df(ra.variance, ra.df, rb.variance, rb.df),
                      unit_buckets=min(ra.buckets, rb.buckets))


def _compare_slow_share(config: MetricConfig, a: HistogramObservation,
                        b: HistogramObservation) -> Comparison:
    threshold = float(config.threshold) if config.threshold is not None else math.nan
    slow_a, total_a = share_slower_than(a.buckets, threshold)
    slow_b, total_b = share_slower_than(b.buckets, threshold)
    # increase() extrapolates to non-integers; rounding keeps the count binomial.
    ta, tb = round(total_a), round(total_b)
    sa, sb = min(round(slow_a), ta), min(round(slow_b), tb)
    rates = compare_rates(sa, ta, sb, tb)
    shift_test = chi_square_homogeneity(cumulative_to_counts(a.buckets),
                                        cumulative_to_counts(b.buckets))
    return Comparison(rates.estimate, rates.variance, ta, tb, rates.var_a, rates.var_b,
                      rates.rate_a, shift_test.p_value, rates.level_a, rates.level_b,
                      rates.var_level_a, rates.var_level_b)


def _compare_quantiles(config: MetricConfig, a: HistogramObservation,
                       b: HistogramObservation) -> Comparison:
    """Q_B - Q_A in seconds with Woodruff standard errors; no information (variance 0)
    until each variant has quantile_min_samples requests and both errors are defined."""
    q = float(config.quantile) if config.quantile is not None else math.nan
    qa, se_a, n_a = quantile_standard_error(a.buckets, q)
    qb, se_b, n_b = quantile_standard_error(b.buckets, q)
    shift = chi_square_homogeneity(cumulative_to_counts(a.buckets),
                                   cumulative_to_counts(b.buckets)).p_value
    floor = quantile_min_samples(q)
    if min(n_a, n_b) < floor:
        why = (f"not estimated yet (a p{100 * q:g} needs {floor} requests per variant, "
               f"{MIN_TAIL_OBSERVATIONS} beyond it; baseline {n_a:.0f}, candidate {n_b:.0f})")
        return Comparison(0.0, 0.0, n_a, n_b, 0.0, 0.0, shift_p_value=shift,
                          why_not_estimated=why)
    if not all(math.isfinite(x) for x in (qa, qb, se_a, se_b)):
        return Comparison(0.0, 0.0, n_a, n_b, 0.0, 0.0, shift_p_value=shift)
    var_a, var_b = se_a**2, se_b**2
    return Comparison(qb - qa, var_a + var_b, n_a, n_b, var_a * n_a, var_b * n_b,
                      shift_p_value=shift, level_a=qa, level_b=qb, var_level_a=var_a,
                      var_level_b=var_b)


def compare(config: MetricConfig, a: VariantObservation, b: VariantObservation) -> Comparison:
    """Reduce observations to an estimate of B - A with its variance."""
    if isinstance(a, ProportionObservation) and isinstance(b, ProportionObservation):
        return compare_rates(a.successes, a.trials, b.successes, b.trials)
    if isinstance(a, UnitBucketedObservation) and isinstance(b, UnitBucketedObservation):
        return compare_unit_buckets(a, b)
    if isinstance(a, HistogramObservation) and isinstance(b, HistogramObservation):
        if config.kind is MetricKind.QUANTILE:
            return _compare_quantiles(config, a, b)
        return _compare_slow_share(config, a, b)
    if isinstance(a, MeanObservation) and isinstance(b, MeanObservation):
        n_a, mean_a, var_a = summary_from_sums(a.count, a.total, a.sum_squares)
        n_b, mean_b, var_b = summary_from_sums(b.count, b.total, b.sum_squares)
        return Comparison(mean_b - mean_a, var_a / n_a + var_b / n_b, n_a, n_b, var_a, var_b,
                          level_a=mean_a, level_b=mean_b, var_level_a=var_a / n_a,
                          var_level_b=var_b / n_b)
    raise ValueError(f"observations for metric {config.name!r} do not match kind {config.kind}")
