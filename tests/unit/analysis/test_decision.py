"""The decision policy: SRM first, fail fast on guardrails, pass only with enough data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from controller.analysis.decision import judge_metrics
from controller.analysis.sequential import proportion_variance, sequential_test
from controller.analysis.types import (
    AnalysisPolicy,
    AnalysisState,
    Decision,
    Direction,
    Goal,
    HistogramObservation,
    MeanObservation,
    MetricConfig,
    MetricKind,
    MetricObservations,
    MetricVerdict,
    OverallVerdict,
    ProportionObservation,
    Role,
    SplitObservation,
)

pytestmark = pytest.mark.unit

INF = math.inf
ERRORS = MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                      planned_samples=2000)
SPLIT = SplitObservation((19_000, 1000), (95, 5))


def _errors(base: tuple[int, int], cand: tuple[int, int], name: str = "errors"
            ) -> MetricObservations:
    return MetricObservations(name, ProportionObservation(*base), ProportionObservation(*cand))


def test_clear_regression_fails_with_actionable_reason() -> None:
    d = judge_metrics([ERRORS], {"errors": _errors((190, 19_000), (40, 1000))}, SPLIT)
    assert d.verdict is OverallVerdict.FAIL
    m = d.metrics[0]
    assert m.verdict is MetricVerdict.FAIL
    assert "roll back" in m.reason
    assert m.p_value is not None
    assert m.p_value <= 0.05
    assert (m.n_baseline, m.n_candidate) == (19_000.0, 1000.0)
    assert isinstance(m.n_candidate, float)
    assert d.state.min_p_values["errors"] == m.p_value


def test_before_plan_is_inconclusive_with_samples_needed() -> None:
    d = judge_metrics([ERRORS], {"errors": _errors((190, 19_000), (10, 1000))}, SPLIT)
    assert d.verdict is OverallVerdict.INCONCLUSIVE
    assert d.metrics[0].samples_needed == 1000.0
    assert "needs 1000 more" in d.metrics[0].reason


def test_plan_reached_without_harm_passes() -> None:
    split = SplitObservation((38_000, 2000), (95, 5))
    d = judge_metrics([ERRORS], {"errors": _errors((380, 38_000), (20, 2000))}, split)
    assert d.verdict is OverallVerdict.PASS
    assert d.metrics[0].samples_needed == 0.0


def test_srm_comes_first_and_never_passes() -> None:
    split = SplitObservation((38_000, 2600), (95, 5))
    prior = AnalysisState({"errors": 0.5})
    d = judge_metrics([ERRORS], {"errors": _errors((380, 38_000), (20, 2000))}, split, prior)
    assert d.verdict is OverallVerdict.SRM
    assert d.srm is not None
    assert d.srm.mismatch
    assert d.state == prior  # distrusted data does not move the running p-values
    assert all(m.verdict is MetricVerdict.INCONCLUSIVE for m in d.metrics)


def test_missing_data_is_counted_and_never_passes() -> None:
    latency = MetricConfig("errors2", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                           planned_samples=2000)
    split = SplitObservation((38_000, 2000), (95, 5))
    obs = {"errors": _errors((380, 38_000), (20, 2000)),
           "errors2": MetricObservations("errors2", ProportionObservation(10, 38_000), None)}
    d = judge_metrics([ERRORS, latency], obs, split)
    assert d.verdict is OverallVerdict.INCONCLUSIVE
    assert d.missing == ("errors2",)
    assert d.state.missing_data_looks == 1
    assert "candidate" in d.metrics[1].reason
    assert d.metrics[1].estimate is None
    # A metric absent from the mapping is missing too, and so is an unknown split.
    d2 = judge_metrics([ERRORS, latency], {"errors": obs["errors"]},
                SplitObservation(None, (95, 5)), d.state)
    assert d2.missing == ("errors2", "traffic-split")
    assert d2.state.missing_data_looks == 2
    # A complete look resets the count.
    complete = {**obs, "errors2": _errors((10, 38_000), (1, 2000), "errors2")}
    assert judge_metrics([ERRORS, latency], complete, split, d2.state).state.missing_data_looks == 0


@pytest.mark.parametrize(("policy", "verdict", "text"),
                         [("rollback", OverallVerdict.FAIL, "roll back"),
                          ("hold", OverallVerdict.INCONCLUSIVE, "hold")])
def test_missing_data_limit_applies_policy(policy: str, verdict: OverallVerdict,
                                           text: str) -> None:
    pol = AnalysisPolicy(missing_data_limit=2, on_missing_data=policy)  # type: ignore[arg-type]
    state = AnalysisState(missing_data_looks=2)
    d = judge_metrics([ERRORS], {}, SPLIT, state, pol)
    assert d.verdict is verdict
    assert f"policy is to {text}" in d.reason


def test_holm_protects_against_many_guardrails() -> None:
    names = ("a", "b")
    configs = [MetricConfig(n, MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                            planned_samples=2000) for n in names]
    obs = {n: _errors((190, 19_000), (10, 1000), n) for n in names}
    alone = judge_metrics(configs[:1], {"a": obs["a"]}, SPLIT, AnalysisState({"a": 0.04}))
    assert alone.verdict is OverallVerdict.FAIL
    both = judge_metrics(configs, obs, SPLIT, AnalysisState({"a": 0.04, "b": 0.04}))
    assert both.verdict is OverallVerdict.INCONCLUSIVE
    assert [m.adjusted_p_value for m in both.metrics] == [0.08, 0.08]


def test_the_reason_shows_holm_next_to_the_p_it_adjusts() -> None:
    configs = [MetricConfig(n, MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                            planned_samples=2000) for n in ("a", "b")]
    obs = {n: _errors((190, 19_000), (10, 1000), n) for n in ("a", "b")}
    both = judge_metrics(configs, obs, SPLIT, AnalysisState({"a": 0.04, "b": 0.04}))
    assert "— no harm detected so far (p=0.04, Holm=0.08); 1000 of 2000 candidate samples" \
        in both.metrics[0].reason


def test_min_samples_gate_a_failure() -> None:
    config = MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                          min_samples=500, planned_samples=2000)
    d = judge_metrics([config], {"errors": _errors((190, 19_000), (40, 100))},
               SplitObservation((19_000, 100), (995, 5)), AnalysisState({"errors": 0.001}))
    assert d.verdict is OverallVerdict.INCONCLUSIVE


def test_tolerance_absorbs_a_small_increase() -> None:
    tolerant = MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                            tolerance=0.03, planned_samples=1000)
    d = judge_metrics([tolerant], {"errors": _errors((190, 19_000), (40, 1000))}, SPLIT)
    assert d.verdict is OverallVerdict.PASS


def test_min_effect_extends_the_sample() -> None:
    config = MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                          planned_samples=1000, min_effect=0.005)
    d = judge_metrics([config], {"errors": _errors((190, 19_000), (10, 1000))}, SPLIT)
    assert d.verdict is OverallVerdict.INCONCLUSIVE
    assert d.metrics[0].samples_needed > 1000


def test_success_metric_must_be_shown_non_inferior() -> None:
    accuracy = MetricConfig("accuracy", MetricKind.PROPORTION, Direction.HIGHER_IS_BETTER,
                            role=Role.SUCCESS, tolerance=0.04, planned_samples=1000)
    good = judge_metrics([accuracy],
                         {"accuracy": _errors((17_100, 19_000), (905, 1000), "accuracy")}, SPLIT)
    assert good.verdict is OverallVerdict.PASS
    unclear = judge_metrics([accuracy], {"accuracy": _errors((17_100, 19_000), (870, 1000),
                                                      "accuracy")}, SPLIT)
    assert unclear.verdict is OverallVerdict.INCONCLUSIVE
    assert "could still be worse than -0.04 (p=1)" in unclear.metrics[0].reason
    big = judge_metrics([accuracy], {"accuracy": _errors((171_000, 190_000), (8_000, 10_000),
                                                  "accuracy")},
                 SplitObservation((190_000, 10_000), (95, 5)))
    assert big.verdict is OverallVerdict.INCONCLUSIVE
    assert big.metrics[0].samples_needed == 0.0
    assert "worse: below -0.04 (p=1)" in big.metrics[0].reason


def test_histogram_metric_uses_share_slower_than_threshold() -> None:
    config = MetricConfig("latency", MetricKind.HISTOGRAM, Direction.LOWER_IS_BETTER,
                          threshold=0.25, planned_samples=1000)
    base = HistogramObservation(((0.1, 9_500), (0.25, 18_000), (INF, 19_000)))
    cand = HistogramObservation(((0.1, 400), (0.25, 850), (INF, 1000)))
    d = judge_metrics([config], {"latency": MetricObservations("latency", base, cand)}, SPLIT)
    m = d.metrics[0]
    assert m.estimate == pytest.approx(150 / 1000 - 1000 / 19_000)
    assert m.verdict is MetricVerdict.FAIL
    assert m.shift_p_value is not None
    assert m.shift_p_value < 0.001
    bad = MetricConfig("latency", MetricKind.HISTOGRAM, Direction.LOWER_IS_BETTER,
                       threshold=0.3, planned_samples=1000)
    with pytest.raises(ValueError, match="not a bucket boundary"):
        judge_metrics([bad], {"latency": MetricObservations("latency", base, cand)}, SPLIT)


def test_mean_metric_from_sums() -> None:
    config = MetricConfig("score", MetricKind.MEAN, Direction.HIGHER_IS_BETTER,
                          planned_samples=1000)
    rng = np.random.default_rng(5)
    a, b = rng.normal(1.0, 0.5, 19_000), rng.normal(0.9, 0.5, 1000)
    obs = MetricObservations("score", MeanObservation(a.size, a.sum(), (a**2).sum()),
                             MeanObservation(b.size, b.sum(), (b**2).sum()))
    d = judge_metrics([config], {"score": obs}, SPLIT)
    assert d.metrics[0].estimate == pytest.approx(b.mean() - a.mean())
    assert d.verdict is OverallVerdict.FAIL


def test_zero_traffic_is_inconclusive_not_zero() -> None:
    d = judge_metrics([ERRORS], {"errors": _errors((0, 0), (0, 0))},
                      SplitObservation((0, 0), (95, 5)))
    assert d.verdict is OverallVerdict.INCONCLUSIVE
    assert d.metrics[0].samples_needed == 2000.0


@pytest.mark.parametrize(
    ("metrics", "obs", "message"),
    [([], {}, "metrics must not be empty"),
     ([ERRORS, ERRORS], {}, "unique"),
     ([ERRORS], {"other": _errors((1, 10), (1, 10), "other")}, "not configured"),
     ([ERRORS], {"errors": MetricObservations("errors", MeanObservation(5, 1, 1),
                                              MeanObservation(5, 1, 1))}, "do not match")],
)
def test_invalid_inputs(metrics: list[MetricConfig], obs: dict[str, MetricObservations],
                        message: str) -> None:
    with pytest.raises(ValueError, match=message):
        judge_metrics(metrics, obs, SPLIT)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"tolerance": -0.1}, "tolerance"), ({"alpha": 0.0}, "alpha"),
     ({"planned_samples": 10}, "planned_samples"), ({"min_effect": 0.0}, "min_effect"),
     ({"kind": MetricKind.HISTOGRAM}, "threshold")],
)
def test_invalid_config(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"name": "m", "kind": MetricKind.PROPORTION,
                               "direction": Direction.LOWER_IS_BETTER}
    with pytest.raises(ValueError, match=message):
        MetricConfig(**(args | kwargs))  # type: ignore[arg-type]


def test_aa_rollouts_rarely_fail_when_judged_every_look() -> None:
    rng = np.random.default_rng(11)
    rollouts, looks, failures = 100, 12, 0
    for _ in range(rollouts):
        state, base, cand = AnalysisState(), np.zeros(2, int), np.zeros(2, int)
        for _ in range(looks):
            base += (rng.binomial(1900, 0.02), 1900)
            cand += (rng.binomial(100, 0.02), 100)
            obs = {"errors": _errors((int(base[0]), int(base[1])), (int(cand[0]), int(cand[1])))}
            observed = SplitObservation((int(base[1]), int(cand[1])), (95, 5))
            d = judge_metrics([ERRORS], obs, observed, state)
            state = d.state
            if d.verdict is OverallVerdict.FAIL:
                failures += 1
                break
    assert failures <= 10  # alpha = 0.05 of 100, plus noise


# --- intervals at small samples ----------------------------------------------------------------

def test_a_difference_of_proportions_is_clipped_to_plus_minus_one_and_tested_alike() -> None:
    d = judge_metrics([ERRORS], {"errors": _errors((40, 10_000), (1, 3))},
                      SplitObservation((10_000, 3), (95, 5)))
    m = d.metrics[0]
    assert (m.ci_low, m.ci_high) == (-1.0, 1.0)
    # The test does not use the bounds: the same p as the unclipped sequential test.
    raw = sequential_test(1 / 3 - 0.004, proportion_variance(40, 10_000)
                          + proportion_variance(1, 3), n_a=10_000, n_b=3, planned_n_b=2000)
    assert raw.ci_low is not None
    assert raw.ci_low < -1
    assert m.p_value == raw.p_value


def test_clipping_keeps_an_interval_that_is_inside_the_range() -> None:
    d = judge_metrics([ERRORS], {"errors": _errors((190, 19_000), (40, 1000))}, SPLIT)
    m = d.metrics[0]
    assert m.ci_low is not None
    assert m.ci_high is not None
    assert m.estimate is not None
    assert -1 < m.ci_low < m.estimate < m.ci_high < 1


def test_bounds_of_the_metric_clip_the_interval_unless_the_estimate_is_outside() -> None:
    config = MetricConfig("score", MetricKind.MEAN, Direction.HIGHER_IS_BETTER,
                          planned_samples=100, min_samples=2, bounds=(-1.0, math.inf))
    few = MetricObservations("score", MeanObservation(40, 40.0, 60.0),
                             MeanObservation(3, 0.3, 3.0))
    m = judge_metrics([config], {"score": few}, SPLIT).metrics[0]
    assert m.ci_low == -1.0
    assert m.ci_high is not None
    assert m.ci_high > 0
    # A candidate below the range: the assumption behind the bounds failed, nothing is clipped.
    below = MetricObservations("score", MeanObservation(40, 40.0, 60.0),
                               MeanObservation(3, -6.0, 14.0))
    m = judge_metrics([config], {"score": below}, SPLIT).metrics[0]
    assert m.estimate == pytest.approx(-3.0)
    assert m.ci_low is not None
    assert m.ci_low < -3.0


def test_bounds_must_contain_no_difference() -> None:
    with pytest.raises(ValueError, match="bounds must contain 0"):
        MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                     bounds=(0.1, 1.0))


def test_the_interval_level_is_one_minus_two_alpha() -> None:
    for alpha in (0.05, 0.1, 0.0001):
        config = MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                              alpha=alpha, planned_samples=2000)
        m = judge_metrics([config], {"errors": _errors((190, 19_000), (10, 1000))},
                          SPLIT).metrics[0]
        assert m.ci_level == pytest.approx(1 - 2 * alpha)


# --- goal: Improve -----------------------------------------------------------------------------

def _accuracy(goal: Goal, **kwargs: Any) -> MetricConfig:
    return MetricConfig("accuracy", MetricKind.PROPORTION, Direction.HIGHER_IS_BETTER,
                        role=Role.SUCCESS, goal=goal, planned_samples=2000, **kwargs)


def _rollout(config: MetricConfig, rate_b: float, seed: int, *, rate_a: float = 0.9,
             looks: int = 10, per_look: int = 200) -> list[Decision]:
    """Cumulative looks at a 90/10 split, 200 candidate samples a look, state carried."""
    rng = np.random.default_rng(seed)
    state, base, cand, decisions = AnalysisState(), np.zeros(2, int), np.zeros(2, int), []
    for _ in range(looks):
        base += (rng.binomial(9 * per_look, rate_a), 9 * per_look)
        cand += (rng.binomial(per_look, rate_b), per_look)
        obs = {"accuracy": _errors((int(base[0]), int(base[1])), (int(cand[0]), int(cand[1])),
                                   "accuracy")}
        d = judge_metrics([config], obs, SplitObservation((int(base[1]), int(cand[1])), (9, 1)),
                          state)
        state = d.state
        decisions.append(d)
    return decisions


def test_goal_improve_passes_a_better_candidate() -> None:
    looks = _rollout(_accuracy(Goal.IMPROVE), 0.93, seed=1)
    assert looks[-1].verdict is OverallVerdict.PASS
    assert all(d.verdict is not OverallVerdict.PASS for d in looks[:-1])  # the plan first
    assert _rollout(_accuracy(Goal.NOT_WORSE, tolerance=0.03), 0.93, seed=1)[-1].verdict \
        is OverallVerdict.PASS


def test_an_equal_candidate_passes_not_worse_but_not_improve() -> None:
    not_worse = _rollout(_accuracy(Goal.NOT_WORSE, tolerance=0.03), 0.9, seed=2)
    assert not_worse[-1].verdict is OverallVerdict.PASS
    improve = _rollout(_accuracy(Goal.IMPROVE), 0.9, seed=2)
    assert all(d.verdict is OverallVerdict.INCONCLUSIVE for d in improve)
    assert "not shown better" in improve[-1].metrics[0].reason


def test_goal_improve_rarely_passes_an_equal_candidate_however_often_it_looks() -> None:
    passed = sum(_rollout(_accuracy(Goal.IMPROVE), 0.9, seed)[-1].verdict
                 is OverallVerdict.PASS for seed in range(200))
    assert passed <= 16  # alpha = 0.05 of 200 (10), plus noise


def test_goal_improve_tests_superiority_in_the_direction_of_the_metric() -> None:
    # Lower is better: fewer errors is an improvement, more errors is not.
    fewer = MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                         role=Role.SUCCESS, goal=Goal.IMPROVE, planned_samples=1000)
    better = judge_metrics([fewer], {"errors": _errors((380, 19_000), (5, 1000))}, SPLIT)
    assert better.verdict is OverallVerdict.PASS
    worse = judge_metrics([fewer], {"errors": _errors((380, 19_000), (40, 1000))}, SPLIT)
    assert worse.verdict is OverallVerdict.INCONCLUSIVE
    assert worse.metrics[0].p_value == 1.0


def test_goal_improve_with_a_minimum_effect_sizes_the_sample_for_it() -> None:
    sized = _accuracy(Goal.IMPROVE, min_effect=0.01)
    early = _rollout(sized, 0.9, seed=3, looks=2)[-1].metrics[0]
    assert early.samples_needed > 1600  # beyond the plan: detecting +1 pt needs more
    assert _rollout(_accuracy(Goal.IMPROVE), 0.9, seed=3, looks=2)[-1].metrics[0] \
        .samples_needed == 1600


def test_goal_improve_needs_no_tolerance_and_is_for_success_metrics_only() -> None:
    assert _accuracy(Goal.IMPROVE).tolerance == 0.0
    assert _accuracy(Goal.NOT_WORSE).tolerance == 0.0  # margin 0: superiority, allowed
    with pytest.raises(ValueError, match="only for a success metric"):
        MetricConfig("errors", MetricKind.PROPORTION, Direction.LOWER_IS_BETTER,
                     goal=Goal.IMPROVE)
