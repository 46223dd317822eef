"""Relative lift, relative tolerances and quantile guardrails: intervals checked against
values computed independently (numerical gradients, scipy, hand computation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps

from controller.analysis.decision import judge_metrics
from controller.analysis.effects import (
    WOODRUFF_Z,
    quantile_interval,
    quantile_standard_error,
    relative_lift,
)
from controller.analysis.sequential import confidence_multiplier, information_ratio
from controller.analysis.types import (
    Direction,
    HistogramObservation,
    MetricConfig,
    MetricJudgement,
    MetricKind,
    MetricObservations,
    MetricVerdict,
    ProportionObservation,
    Role,
    SplitObservation,
)

pytestmark = pytest.mark.unit


def test_lift_variance_is_the_delta_method_of_the_ratio() -> None:
    """Against a numerical gradient of f(a, b) = b / a - 1 (scipy.optimize.approx_fprime)
    through the covariance diag(Var a, Var b): the delta method, computed another way."""
    a, var_a, b, var_b = 378 / 3662, 0.1032 * 0.8968 / 3662, 462 / 3568, 0.1295 * 0.8705 / 3568
    lift, variance = relative_lift(a, var_a, b, var_b) or (math.nan, math.nan)
    grad = optimize.approx_fprime(np.array([a, b]), lambda v: v[1] / v[0] - 1, 1e-9)
    assert lift == pytest.approx(b / a - 1)
    assert variance == pytest.approx(grad[0] ** 2 * var_a + grad[1] ** 2 * var_b, rel=1e-5)
    assert relative_lift(0.0, 1e-4, 0.1, 1e-4) is None  # no stable level: no lift


def test_lift_interval_covers_the_true_lift() -> None:
    """Coverage of the delta-method interval for two rates of 10% and 12% (n = 20000 per
    arm): the nominal 95% within simulation error."""
    rng = np.random.default_rng(5)
    n, p_a, p_b, z = 20_000, 0.10, 0.12, float(sps.norm.isf(0.025))
    x_a, x_b = rng.binomial(n, p_a, 2000) / n, rng.binomial(n, p_b, 2000) / n
    lift, var = np.vectorize(lambda a, b: relative_lift(a, a * (1 - a) / n, b,
                                                        b * (1 - b) / n))(x_a, x_b)
    covered = np.abs(lift - (p_b / p_a - 1)) <= z * np.sqrt(var)
    assert covered.mean() == pytest.approx(0.95, abs=0.015)


# statistics.md: buckets {0.1: 50, 0.2: 70, 1: 110, +Inf: 120} (histogram_quantile test value)
BUCKETS = ((0.1, 50.0), (0.2, 70.0), (1.0, 110.0), (math.inf, 120.0))


def test_woodruff_interval_by_hand() -> None:
    """q = 0.5, n = 120: ranks 60 -/+ 1.96 sqrt(30) = 49.265 .. 70.735; rank 49.265 is in
    the first bucket (0..0.1, 50 requests) -> 0.1 * 49.265 / 50 = 0.098530; rank 70.735 in
    (0.2, 1] with 40 requests from rank 70 -> 0.2 + 0.8 * 0.735 / 40 = 0.214703."""
    value, low, high = quantile_interval(BUCKETS, 0.5)
    spread = float(sps.norm.isf(0.025)) * math.sqrt(30)
    assert value == pytest.approx(0.15)
    assert low == pytest.approx(0.1 * (60 - spread) / 50, rel=1e-12)
    assert high == pytest.approx(0.2 + 0.8 * (60 + spread - 70) / 40, rel=1e-12)
    assert low == pytest.approx(0.098530, abs=1e-6)
    assert high == pytest.approx(0.214703, abs=1e-6)


def test_woodruff_interval_against_numpy_interpolation() -> None:
    """Ranks from scipy's normal quantile, mapped with np.interp over (cumulative count,
    bound): the same linear interpolation, written independently."""
    bounds = np.array([0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0])
    cumulative = np.array([0.0, 40, 300, 1900, 3400, 3900, 3980, 3996, 4000])
    buckets = [(float(b), float(c)) for b, c in zip(bounds[1:], cumulative[1:], strict=True)]
    buckets.append((math.inf, 4000.0))
    for q in (0.5, 0.9, 0.99):
        n = cumulative[-1]
        half = sps.norm.ppf(0.975) * math.sqrt(n * q * (1 - q))
        expected = np.interp([n * q - half, n * q + half], cumulative, bounds)
        _, low, high = quantile_interval(buckets, q)
        assert (low, high) == pytest.approx(tuple(expected), rel=1e-12)


def test_woodruff_standard_error_covers_the_true_quantile() -> None:
    """Exponential latencies (mean 50 ms) in fine buckets, n = 3000: the p90's 95% interval
    from estimate -/+ 1.96 se covers the true p90 within simulation error."""
    rng = np.random.default_rng(9)
    edges = np.append(np.arange(0.005, 0.5, 0.005), np.inf)
    truth = -0.05 * math.log(0.1)
    covered = []
    for _ in range(500):
        counts = np.cumsum(np.histogram(rng.exponential(0.05, 3000),
                                        np.concatenate([[0.0], edges]))[0])
        value, se, _ = quantile_standard_error(list(zip(edges, counts.astype(float),
                                                        strict=True)), 0.9)
        covered.append(abs(value - truth) <= WOODRUFF_Z * se)
    assert np.mean(covered) == pytest.approx(0.95, abs=0.03)


def shifted(factor: float, n: int) -> tuple[tuple[float, float], ...]:
    """Cumulative buckets of n lognormal latencies (median 100 ms * factor), expected counts."""
    bounds = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
    cdf = sps.norm.cdf((np.log(bounds) - math.log(0.1 * factor)) / 0.5)
    return (*((b, float(round(n * c))) for b, c in zip(bounds, cdf, strict=True)),
            (math.inf, float(n)))


def p99_guardrail(relative: float = 0.1) -> MetricConfig:
    return MetricConfig("p99", MetricKind.QUANTILE, Direction.LOWER_IS_BETTER,
                        relative_tolerance=relative, quantile=0.99, planned_samples=5000)


def judge(config: MetricConfig, a: object, b: object) -> MetricJudgement:
    assert isinstance(a, ProportionObservation | HistogramObservation)
    assert isinstance(b, ProportionObservation | HistogramObservation)
    decision = judge_metrics([config], {config.name: MetricObservations(config.name, a, b)},
                             SplitObservation(None, (1, 1)))
    return decision.metrics[0]


def test_quantile_difference_interval_is_the_woodruff_errors_combined() -> None:
    a, b = shifted(1.0, 20_000), shifted(2.5, 5_000)
    result = judge(p99_guardrail(), HistogramObservation(a), HistogramObservation(b))
    qa, se_a, _ = quantile_standard_error(a, 0.99)
    qb, se_b, _ = quantile_standard_error(b, 0.99)
    multiplier = confidence_multiplier(information_ratio(5000, 5000, 0.05), 0.05)
    assert result.estimate == pytest.approx(qb - qa)
    half = multiplier * math.hypot(se_a, se_b)
    assert (result.ci_low, result.ci_high) == pytest.approx((qb - qa - half, qb - qa + half))
    assert result.lift == pytest.approx(qb / qa - 1)
    assert result.verdict is MetricVerdict.FAIL  # p99 about doubled: beyond +10%
    assert "+10% of stable" in result.reason


def test_a_p99_within_the_relative_tolerance_passes() -> None:
    a, b = shifted(1.0, 20_000), shifted(1.02, 5_000)
    result = judge(p99_guardrail(), HistogramObservation(a), HistogramObservation(b))
    assert result.verdict is MetricVerdict.PASS
    assert "no harm detected beyond +10% of stable" in result.reason


def test_a_relative_tolerance_tests_the_ratio_not_the_points() -> None:
    """Error rate 1.0% -> 1.08% is +8%: within a 10% relative tolerance, although an
    absolute tolerance of 0 fails it with this much data; 1.0% -> 1.5% is +50%: fail."""
    stable = ProportionObservation(10_000, 1_000_000)
    relative = MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                            relative_tolerance=0.1, planned_samples=1_000_000)
    absolute = MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                            planned_samples=1_000_000)
    slightly = ProportionObservation(10_800, 1_000_000)
    assert judge(absolute, stable, slightly).verdict is MetricVerdict.FAIL
    within = judge(relative, stable, slightly)
    assert within.verdict is MetricVerdict.PASS
    assert within.lift == pytest.approx(0.08)
    assert within.lift_low is not None
    assert within.lift_high is not None
    assert within.lift_low < 0.08 < within.lift_high
    worse = judge(relative, stable, ProportionObservation(1_500, 100_000))
    assert worse.verdict is MetricVerdict.FAIL
    assert "harm above +10% of stable" in worse.reason


def test_a_success_metric_with_a_relative_margin_is_non_inferiority() -> None:
    config = MetricConfig("accuracy", MetricKind.PROPORTION, Direction.HIGHER_IS_BETTER,
                          Role.SUCCESS, relative_tolerance=0.02, planned_samples=5_000)
    result = judge(config, ProportionObservation(9_000, 10_000),
                   ProportionObservation(4_490, 5_000))
    assert result.verdict is MetricVerdict.PASS
    assert "not worse than -2% of stable" in result.reason


def test_relative_and_absolute_tolerances_do_not_mix() -> None:
    with pytest.raises(ValueError, match="not both"):
        MetricConfig("e", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER, tolerance=0.01,
                     relative_tolerance=0.1)
    with pytest.raises(ValueError, match="quantile"):
        MetricConfig("p", MetricKind.QUANTILE, Direction.LOWER_IS_BETTER)
