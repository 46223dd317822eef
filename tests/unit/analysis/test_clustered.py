"""Users as the unit of analysis: bucketed variance, t-mapped sequential test, clustered A/A."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from controller.analysis.clustered import bucketed_ratio, delta_ratio_variance, welch_df
from controller.analysis.decision import judge_metrics
from controller.analysis.sequential import (
    confidence_multiplier,
    sequential_proportions,
    t_to_normal_score,
)
from controller.analysis.types import (
    Direction,
    MetricConfig,
    MetricKind,
    MetricObservations,
    MetricVerdict,
    SplitObservation,
    UnitBucketedObservation,
)
from tests.clustered_users import Counts, Population, simulate

pytestmark = pytest.mark.unit


def deng_variance(x: np.ndarray, y: np.ndarray) -> float:
    """The per-user delta method as Deng, Knoblich and Lu (KDD 2018) write it:
    (1 / (n Ybar^2)) (s_X^2 - 2 (Xbar / Ybar) s_XY + (Xbar / Ybar)^2 s_Y^2)."""
    n = x.size
    cov = np.cov(x, y, ddof=1)
    m = x.mean() / y.mean()
    return float((cov[0, 0] - 2 * m * cov[0, 1] + m * m * cov[1, 1]) / (n * y.mean() ** 2))


def users(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Heavy-tailed, heterogeneous users: (failures, requests) per user."""
    requests = np.maximum(rng.poisson(rng.lognormal(1.5, 1.2, n)), 0).astype(float)
    p = rng.beta(0.05, 4.95, n)
    return rng.binomial(requests.astype(np.int64), p).astype(float), requests


def test_one_unit_per_bucket_is_exactly_the_per_user_delta_method() -> None:
    rng = np.random.default_rng(3)
    x, y = users(rng, 40)
    assert delta_ratio_variance(x, y) == pytest.approx(deng_variance(x, y), rel=1e-12)
    assert bucketed_ratio(list(x), list(y)).ratio == pytest.approx(x.sum() / y.sum())


def test_bucketed_variance_matches_the_per_user_variance_and_the_truth() -> None:
    """Users hashed into 32 buckets: on average the bucket-level variance equals the
    per-user delta-method variance and the ratio's actual spread across populations,
    while the request-level (binomial) variance is far smaller."""
    rng = np.random.default_rng(11)
    bucketed, per_user, binomial, ratios = [], [], [], []
    for _ in range(400):
        x, y = users(rng, 2000)
        bucket = rng.integers(0, 32, x.size)
        bx = np.bincount(bucket, x, 32)
        by = np.bincount(bucket, y, 32)
        bucketed.append(delta_ratio_variance(bx, by))
        per_user.append(deng_variance(x, y))
        ratio = x.sum() / y.sum()
        binomial.append(ratio * (1 - ratio) / y.sum())
        ratios.append(ratio)
    truth = float(np.var(ratios, ddof=1))
    assert np.mean(bucketed) == pytest.approx(np.mean(per_user), rel=0.1)
    assert np.mean(bucketed) == pytest.approx(truth, rel=0.2)
    assert np.mean(binomial) < truth / 2  # why requests are the wrong unit


def test_bucketed_variance_never_claims_less_than_the_binomial() -> None:
    """No failure in any bucket yet: the variance is the request-level one, not zero."""
    result = bucketed_ratio([0.0] * 16, [50.0] * 16)
    assert result.variance > 0
    assert result.df == 15


def test_welch_degrees_of_freedom() -> None:
    # Equal variances and df: df adds up; one arm dominating: its own df.
    assert welch_df(1.0, 15, 1.0, 15) == pytest.approx(30)
    assert welch_df(1.0, 15, 1e-9, 15) == pytest.approx(15, rel=1e-6)
    assert welch_df(0.0, 15, 0.0, 15) is None


def test_t_scores_map_to_the_normal_score_with_the_same_tail() -> None:
    z = t_to_normal_score(2.5, 15)
    assert sps.norm.sf(z) == pytest.approx(sps.t.sf(2.5, 15), rel=1e-10)
    assert t_to_normal_score(-2.5, 15) == pytest.approx(-z)
    assert t_to_normal_score(2.5, None) == 2.5
    # The interval widens by t quantiles: the bound holds the same tail probability.
    r = 1.0
    normal = confidence_multiplier(r, 0.05)
    wide = confidence_multiplier(r, 0.05, 15)
    assert wide > normal
    assert sps.t.sf(wide, 15) == pytest.approx(sps.norm.sf(normal), rel=1e-9)


def test_unit_buckets_go_through_the_decision_with_their_bucket_count() -> None:
    config = MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                          planned_samples=1000)
    a = UnitBucketedObservation((10.0, 0.0, 30.0, 2.0), (1000.0, 900.0, 1100.0, 1000.0))
    b = UnitBucketedObservation((1.0, 3.0, 9.0, 0.0), (300.0, 250.0, 250.0, 200.0))
    decision = judge_metrics([config], {"errors": MetricObservations("errors", a, b)},
                             SplitObservation(None, (80, 20)))
    result = decision.metrics[0]
    assert result.unit_buckets == 4
    assert result.n_candidate == 1000
    assert result.n_baseline == 4000
    assert result.estimate == pytest.approx(13 / 1000 - 42 / 4000)
    request_level = sequential_proportions(42, 4000, 13, 1000, planned_trials_b=1000)
    assert request_level.ci_low is not None
    assert request_level.ci_high is not None
    assert result.ci_low is not None
    assert result.ci_high is not None
    # Users unlike each other: the unit-level interval is wider than the request-level one.
    assert result.ci_high - result.ci_low > request_level.ci_high - request_level.ci_low


WEIGHT, LOOKS, BUCKETS, SIMS, ALPHA = 0.2, 10, 16, 150, 0.05


def false_rollbacks(unit_level: bool, counts: Counts) -> float:
    planned = Population().requests_per_look * WEIGHT * LOOKS
    config = MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                          alpha=ALPHA, planned_samples=round(planned))
    rolled = 0
    for sim in range(SIMS):
        state, previous_p = None, 1.0
        for look in range(LOOKS):
            trials, errors = counts.trials[sim, look], counts.errors[sim, look]
            if not unit_level:
                res = sequential_proportions(
                    round(errors[0].sum()), round(trials[0].sum()), round(errors[1].sum()),
                    round(trials[1].sum()), planned_trials_b=planned, alpha=ALPHA,
                    previous_p=previous_p)
                previous_p = res.p_value
                if res.p_value <= ALPHA and trials[1].sum() >= config.min_samples:
                    rolled += 1
                    break
                continue
            a = UnitBucketedObservation(tuple(errors[0]), tuple(trials[0]))
            b = UnitBucketedObservation(tuple(errors[1]), tuple(trials[1]))
            decision = judge_metrics([config], {"errors": MetricObservations("errors", a, b)},
                                     SplitObservation(None, (80, 20)), state)
            state = decision.state
            if decision.metrics[0].verdict is MetricVerdict.FAIL:
                rolled += 1
                break
    return rolled / SIMS


def test_clustered_aa_unit_level_false_rollbacks_stay_within_alpha() -> None:
    """Identical arms, sticky heavy-tailed heterogeneous users, a look every interval: the
    request-level test rolls back far more often than alpha; the unit-level one does not
    (alpha plus two simulation standard errors)."""
    rng = np.random.default_rng(20240614)
    counts = simulate(rng, sims=SIMS, looks=LOOKS, weight=WEIGHT, buckets=BUCKETS,
                      population=Population())
    noise = 2 * math.sqrt(ALPHA * (1 - ALPHA) / SIMS)
    assert false_rollbacks(True, counts) <= ALPHA + noise
    assert false_rollbacks(False, counts) > ALPHA + noise  # the simulation is clustered
