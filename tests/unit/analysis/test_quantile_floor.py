"""A latency quantile from histogram buckets is estimated only from enough requests: p99
guardrails judged at every look of identical arms keep their false rollbacks within alpha,
including the small canaries where the Woodruff normal approximation does not hold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from controller.analysis.decision import judge_metrics
from controller.analysis.effects import MIN_TAIL_OBSERVATIONS, quantile_min_samples
from controller.analysis.provider import BucketCounts, Counts
from controller.analysis.types import (
    Direction,
    HistogramObservation,
    MetricConfig,
    MetricKind,
    MetricObservations,
    MetricVerdict,
    SplitObservation,
)
from controller.contract.metrics import LATENCY_BUCKETS
from tests.doubles import FakeProvider
from tests.unit.analysis.looks import look, spec, status

pytestmark = pytest.mark.unit

ALPHA = 0.05


def _p99(tolerance: float, planned: int = 200) -> MetricConfig:
    return MetricConfig("p99", MetricKind.QUANTILE, Direction.LOWER_IS_BETTER,
                        relative_tolerance=tolerance, quantile=0.99, planned_samples=planned,
                        min_samples=40, alpha=ALPHA)


def _bucket_probabilities(median_seconds: float, sigma: float) -> np.ndarray:
    """Lognormal latency in the router's buckets (the last one +Inf)."""
    cdf = sps.norm.cdf((np.log(LATENCY_BUCKETS) - math.log(median_seconds)) / sigma)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def _histogram(counts: np.ndarray) -> HistogramObservation:
    cumulative = np.cumsum(counts)
    return HistogramObservation((*zip(LATENCY_BUCKETS, cumulative[:-1].tolist(), strict=True),
                                 (math.inf, float(cumulative[-1]))))


def _false_rollbacks(config: MetricConfig, probabilities: np.ndarray, per_look: tuple[int, int],
                     looks: int, sims: int, seed: int) -> float:
    """The share of A/A runs the guardrail fails at some look (observations cumulative)."""
    rng = np.random.default_rng(seed)
    rolled = 0
    for _ in range(sims):
        counts, state = np.zeros((2, probabilities.size)), None
        for _ in range(looks):
            counts[0] += rng.multinomial(per_look[0], probabilities)
            counts[1] += rng.multinomial(per_look[1], probabilities)
            observed = MetricObservations("p99", _histogram(counts[0]), _histogram(counts[1]))
            decision = judge_metrics([config], {"p99": observed}, SplitObservation(None, (0, 0)),
                                     state)
            state = decision.state
            if decision.metrics[0].verdict is MetricVerdict.FAIL:
                rolled += 1
                break
    return rolled / sims


def _within_alpha(rate: float, sims: int) -> bool:
    return rate <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / sims)


def test_quantile_floor_is_ten_observations_on_the_short_side() -> None:
    assert MIN_TAIL_OBSERVATIONS == 10
    assert [quantile_min_samples(q) for q in (0.99, 0.95, 0.9, 0.5, 0.01)] == [
        1000, 200, 100, 20, 1000]


def test_small_canary_near_a_bucket_bound_stays_within_alpha() -> None:
    """5% canary, 7 candidate requests a look, p99 about 9.6 ms just under the 10 ms bound,
    15 looks, no tolerance: before the floor, 10% of 600 A/A runs were rolled back."""
    sims = 400
    rate = _false_rollbacks(_p99(0.0), _bucket_probabilities(0.003, 0.5), (142, 7), 15, sims, 11)
    assert _within_alpha(rate, sims), rate


@pytest.mark.parametrize(("median", "per_look", "looks"), [
    (0.005, (112, 37), 40),  # 25%: crosses the floor at look 28 (1,480 candidate requests)
    (0.1, (2000, 500), 8),  # 20%, 100 ms median: estimated from the first look
])
def test_p99_guardrail_aa_false_rollbacks_stay_within_alpha_under_repeated_looks(
        median: float, per_look: tuple[int, int], looks: int) -> None:
    sims = 150
    rate = _false_rollbacks(_p99(0.0, planned=4000), _bucket_probabilities(median, 0.4),
                            per_look, looks, sims, 14)
    assert _within_alpha(rate, sims), rate


def test_a_quantile_below_the_floor_is_not_estimated_and_says_so() -> None:
    """Below 1,000 requests per variant the p99 has no estimate and the reason names the
    floor and the counts; from the floor on it is compared (here: clearly worse, fails)."""
    stable = np.array([0, 0, 0, 2900, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    slower = np.array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])  # all in (25, 50] ms
    config = _p99(0.1)
    for n_b, estimated in ((999, False), (1000, True)):
        observed = MetricObservations("p99", _histogram(stable), _histogram(slower * n_b))
        result = judge_metrics([config], {"p99": observed}, SplitObservation(None, (0, 0))
                               ).metrics[0]
        if estimated:
            assert result.estimate is not None
            assert result.verdict is MetricVerdict.FAIL
        else:
            assert result.estimate is None
            assert result.verdict is MetricVerdict.PASS
            assert result.reason.startswith(
                "p99: not estimated yet (a p99 needs 1000 requests per variant, 10 beyond it; "
                "baseline 2950, candidate 999)"), result.reason


def test_a_quantile_not_estimated_yet_is_judged_data_not_missing_data() -> None:
    """Through the analyzer: the p99 of 300 candidate requests is Inconclusive with the
    reason why, never NoData (which would start the missing-data policy and hold)."""
    stable, candidate = _histogram(np.array([0, 0, 0, 2900, 50, *[0] * 9])), _histogram(
        np.array([0, 0, 0, 290, 10, *[0] * 9]))
    fake = FakeProvider({("p99", "stable"): BucketCounts(stable.buckets),
                         ("p99", "candidate"): BucketCounts(candidate.buckets),
                         ("traffic", "stable"): Counts(0, 2950),
                         ("traffic", "candidate"): Counts(0, 328)})
    p99 = {"name": "p99", "template": "latencyQuantile", "quantile": 99,
           "relativeToleranceBasisPoints": 1000}
    outcome = look(fake, spec([p99]), status(weights=(90, 10)))
    assert outcome.status is not None
    assert outcome.status.verdict == "Inconclusive", outcome.status.message
    (metric,) = outcome.status.metrics
    assert metric.verdict == "Inconclusive"
    assert metric.estimate is None
    assert metric.reason.startswith("p99: not estimated yet (a p99 needs 1000 requests"), (
        metric.reason)
