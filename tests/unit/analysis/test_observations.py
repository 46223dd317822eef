"""Provider answers as the statistics core's observations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from controller.analysis.histogram import cumulative_to_counts
from controller.analysis.observations import (
    Sizing,
    latency_note,
    metric_config,
    proportion,
    slower_probability,
    to_observations,
)
from controller.analysis.provider import BucketCounts, Counts, ProviderError, summarise
from controller.analysis.stats import mann_whitney_counts_z, summary_from_sums
from controller.analysis.templates import plan_metric
from controller.analysis.types import Goal, MeanObservation, ProportionObservation, Role
from controller.api.analysis import Metric
from controller.contract.metrics import LATENCY_BUCKETS

pytestmark = pytest.mark.unit

SIZING = Sizing(alpha=0.05, min_samples=100, planned=1000, value_min_samples=10,
                value_planned=30)


def histogram(values: np.ndarray) -> BucketCounts:
    bounds = (*LATENCY_BUCKETS, math.inf)
    cumulative = tuple((b, float(np.sum(values <= b))) for b in bounds)
    return BucketCounts(cumulative, float(values.sum()))


def test_fractional_counts_round_to_whole_events() -> None:
    assert proportion(Counts(19.6, 1999.8), "q") == ProportionObservation(20, 2000)
    assert proportion(Counts(100.4, 100.2), "q") == ProportionObservation(100, 100)


def test_a_numerator_above_its_denominator_is_a_query_error() -> None:
    with pytest.raises(ProviderError, match="must count a subset") as raised:
        proportion(Counts(150, 100), "errors")
    assert raised.value.kind == "query"


def test_slower_probability_is_mann_whitney_over_the_buckets() -> None:
    rng = np.random.default_rng(7)
    stable_values = rng.lognormal(math.log(0.08), 0.5, 4000)
    candidate_values = rng.lognormal(math.log(0.088), 0.5, 1000)  # 10% slower
    stable, candidate = histogram(stable_values), histogram(candidate_values)
    base, cand = slower_probability(stable, candidate)
    # theta is U / (n_a n_b) of the bucketed values (ties in a bucket count half).
    bucketed_a = np.searchsorted(LATENCY_BUCKETS, stable_values)
    bucketed_b = np.searchsorted(LATENCY_BUCKETS, candidate_values)
    u = sps.mannwhitneyu(bucketed_b, bucketed_a).statistic
    n_a, mean_a, _ = summary_from_sums(base.count, base.total, base.sum_squares)
    n_b, mean_b, _ = summary_from_sums(cand.count, cand.total, cand.sum_squares)
    assert (n_a, n_b) == (4000, 1000)
    assert mean_b == pytest.approx(u / (4000 * 1000), rel=1e-12)
    assert mean_a == pytest.approx(0.5)
    assert 0.52 < mean_b < 0.6
    # Under no shift the DeLong variance matches the tie-corrected null variance of U.
    same = histogram(rng.lognormal(math.log(0.08), 0.5, 1000))
    base0, cand0 = slower_probability(stable, same)
    delong = (summary_from_sums(base0.count, base0.total, base0.sum_squares)[2] / 4000
              + summary_from_sums(cand0.count, cand0.total, cand0.sum_squares)[2] / 1000)
    counts_a, counts_b = cumulative_to_counts(stable.buckets), cumulative_to_counts(same.buckets)
    u0, z0 = mann_whitney_counts_z(counts_a, counts_b)
    null_var = ((float(u0) - 4000 * 1000 / 2) / float(z0)) ** 2 / (4000 * 1000) ** 2
    assert delong == pytest.approx(null_var, rel=0.1)


def test_slower_probability_without_requests_is_empty() -> None:
    empty = BucketCounts(((0.1, 0.0), (math.inf, 0.0)), 0.0)
    some = BucketCounts(((0.1, 3.0), (math.inf, 4.0)), 0.5)
    base, cand = slower_probability(some, empty)
    assert cand == MeanObservation(0.0, 0.0, 0.0)
    assert base.count == 4.0


def test_latency_note_gives_mean_latencies_and_the_chi_square_shift() -> None:
    rng = np.random.default_rng(3)
    stable = histogram(rng.lognormal(math.log(0.08), 0.5, 20_000))
    slower = histogram(rng.lognormal(math.log(0.1), 0.5, 5_000))
    note = latency_note(stable, slower)
    assert note is not None
    assert note.startswith("mean latency candidate ")
    assert "bucket χ² p<1e-15 (fixed-horizon" in note
    other = BucketCounts(((0.5, 1.0), (math.inf, 2.0)), 1.0)
    assert latency_note(stable, other) is None


def test_histograms_with_different_buckets_are_not_compared() -> None:
    p = plan_metric(Metric.model_validate({"name": "lat", "template": "latencyShift"}), 0,
                    scope="", step_seconds=15)
    a = BucketCounts(((0.1, 1.0), (math.inf, 2.0)))
    b = BucketCounts(((0.2, 1.0), (math.inf, 2.0)))
    with pytest.raises(ProviderError, match="different bucket boundaries"):
        to_observations(p, {"stable": a, "candidate": b})


def test_relative_tolerance_is_a_share_of_the_stable_mean_for_the_value_form() -> None:
    p = plan_metric(Metric.model_validate({
        "name": "score", "query": {"value": 's{v="{{variant}}"}'}, "direction":
        "HigherIsBetter", "toleranceBasisPoints": 500, "minimumEffectBasisPoints": 1000}),
        0, scope="", step_seconds=15)
    stable = MeanObservation(100, 12.0, 2.0)  # mean 0.12
    config = metric_config(p, SIZING, stable)
    assert config.tolerance == pytest.approx(0.006)
    assert config.min_effect == pytest.approx(0.012)
    assert (config.min_samples, config.planned_samples) == (10, 30)


def test_absolute_tolerance_for_rates_and_points_for_value_metrics() -> None:
    rate = plan_metric(Metric.model_validate({
        "name": "e", "template": "errorRate", "toleranceBasisPoints": 50}), 0, scope="",
        step_seconds=15)
    assert metric_config(rate, SIZING, ProportionObservation(1, 10)).tolerance == 0.005
    shift = plan_metric(Metric.model_validate({
        "name": "lat", "template": "latencyShift", "toleranceBasisPoints": 300}), 0,
        scope="", step_seconds=15)
    config = metric_config(shift, SIZING, MeanObservation(10, 5.0, 3.0))
    assert (config.tolerance, config.min_samples, config.planned_samples) == (0.03, 100, 1000)


def test_summarise_skips_non_finite_points() -> None:
    assert summarise([1.0, float("nan"), 3.0]) == summarise([1.0, 3.0])
    assert summarise([1.0, 3.0]).sum_squares == 10.0


def test_goal_improve_reaches_the_config_and_needs_no_tolerance() -> None:
    improve = plan_metric(Metric.model_validate({
        "name": "accuracy", "template": "feedbackAccuracy", "role": "Success",
        "goal": "Improve"}), 0, scope="", step_seconds=15)
    config = metric_config(improve, SIZING, ProportionObservation(90, 100))
    assert (config.role, config.goal, config.tolerance) == (Role.SUCCESS, Goal.IMPROVE, 0.0)
    default = plan_metric(Metric.model_validate({
        "name": "accuracy", "template": "feedbackAccuracy", "role": "Success",
        "toleranceBasisPoints": 100}), 0, scope="", step_seconds=15)
    assert metric_config(default, SIZING, None).goal is Goal.NOT_WORSE
    # NotWorse by a margin of 0 is the superiority test, judged and worded as Improve.
    zero = plan_metric(Metric.model_validate({"name": "accuracy", "template": "feedbackAccuracy",
                                              "role": "Success", "goal": "NotWorse"}), 0,
                       scope="", step_seconds=15)
    assert metric_config(zero, SIZING, None).goal is Goal.IMPROVE
