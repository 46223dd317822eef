"""Mirror phases judge: the candidate as a shadow on the same requests as the stable, driven
through the pure state machine with the real PrometheusAnalyzer over simulated counters; a
candidate that disagrees or fails as a shadow is rolled back with 0% live throughout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from controller.analysis.decision import judge_metrics
from controller.analysis.observations import PERFECT_AGREEMENT
from controller.analysis.paired import NO_DIFFERENCE, Pairs, mcnemar
from controller.analysis.provider import CountsQuery, HistogramQuery
from controller.analysis.templates import STABLE_ONLY, Shape, plan_metric
from controller.analysis.types import (
    AnalysisPolicy,
    Direction,
    MetricConfig,
    MetricKind,
    MetricObservations,
    OverallVerdict,
    ProportionObservation,
    SplitObservation,
    VariantObservation,
)
from controller.api.analysis import Metric
from controller.contract.metrics import (
    PAIRED_FEEDBACK,
    REQUESTS,
    SHADOW_DURATION,
    SHADOW_REQUESTS,
)
from controller.contract.table import CANDIDATE
from tests.unit.analysis.simulated import (
    Rate,
    counters,
    errors_at,
    live_weights,
    paired_at,
    promoted,
    rolled_back,
    rollout,
)
from tests.unit.rollout.world import World, settled

pytestmark = pytest.mark.unit

PREDICTION = {"builtin": {"prediction": {"path": "predictions[0].label"}}}
ERRORS = {"name": "errors", "template": "errorRate"}
AGREEMENT = {"name": "agreement", "template": "shadowAgreement", "toleranceBasisPoints": 500}
ACCURACY = {"name": "accuracy", "template": "feedbackAccuracy", "toleranceBasisPoints": 200}
JUDGED_MIRROR: list[dict[str, Any]] = [
    {"mirror": {"percent": 100, "analysis": {"durationSeconds": 300, "minSamples": 500}}},
    {"setWeight": 50}, {"setWeight": 100}]


def mirrored(metrics: dict[str, dict[str, Rate]], names: list[dict[str, Any]],
             steps: list[dict[str, Any]] | None = None,
             strategy: dict[str, Any] | None = None,
             traffic: dict[str, float] | None = None) -> World:
    world = rollout(counters(metrics, traffic), steps or JUDGED_MIRROR, metrics=names,
                    strategy=strategy, onInconclusive="Rollback")
    world.spec["trafficRouting"] = PREDICTION
    return world


def test_a_candidate_that_disagrees_is_rolled_back_before_any_live_traffic() -> None:
    world = mirrored({**errors_at(0.01, 0.01), "agreement": {"candidate": Rate(20, 0.8)}},
                     [ERRORS, AGREEMENT])
    world.run_until(settled)
    reason, message = rolled_back(world)
    assert reason == "AnalysisFailed"
    assert "agreement" in message
    assert "floor 95%" in message
    assert set(live_weights(world)) == {0}, "a user saw the candidate"


def test_a_candidate_failing_as_a_shadow_is_rolled_back() -> None:
    world = mirrored(errors_at(0.01, 0.2), [ERRORS])
    world.run_until(settled)
    reason, message = rolled_back(world)
    assert (reason, message.split(":")[0]) == ("AnalysisFailed", "errors")
    assert set(live_weights(world)) == {0}


def test_paired_labels_roll_back_a_less_accurate_shadow() -> None:
    # 10% of labelled requests only the stable got right, 2% only the candidate: -8 pts.
    world = mirrored({**errors_at(0.01, 0.01), **paired_at(5, 0.10, 0.02)}, [ERRORS, ACCURACY])
    world.run_until(settled)
    reason, message = rolled_back(world)
    assert reason == "AnalysisFailed"
    assert "accuracy" in message
    assert "McNemar" in message
    assert set(live_weights(world)) == {0}


def test_a_good_shadow_passes_the_mirror_and_goes_live() -> None:
    metrics = {**errors_at(0.01, 0.01), "agreement": {"candidate": Rate(20, 0.995)},
               **paired_at(5, 0.03, 0.03)}
    world = mirrored(metrics, [ERRORS, AGREEMENT, ACCURACY])
    world.run_until(lambda w: w.status.current_step_index == 1 or settled(w))
    assert world.status.current_step_index == 1
    assert not world.status.history or world.status.history[-1].outcome != "RolledBack"
    world.run_until(settled)
    assert promoted(world)
    assert max(live_weights(world)) == 100


def test_an_unjudged_mirror_step_is_only_a_timer() -> None:
    steps: list[dict[str, Any]] = [{"mirror": {"percent": 100, "durationSeconds": 60}},
                                   {"setWeight": 100}]
    world = mirrored(errors_at(0.01, 0.5), [ERRORS], steps)
    world.run_until(settled)
    assert promoted(world)


def test_the_blue_green_preview_is_mirrored_and_judged_as_a_shadow() -> None:
    strategy = {"blueGreen": {"autoPromote": True, "prePromotionAnalysis": {
        "durationSeconds": 300, "minSamples": 500}}}
    # Its labels come paired with the stable's (as a shadow): 10% only the stable got right.
    world = mirrored({**errors_at(0.01, 0.01), **paired_at(5, 0.10, 0.02)},
                     [ERRORS, ACCURACY], strategy=strategy)
    world.run_until(settled)
    reason, message = rolled_back(world)
    assert reason == "AnalysisFailed"
    assert message.startswith("accuracy"), message
    preview = [s for s in world.applied if s.candidate_revision]
    assert preview
    assert all(s.candidate_weight == 0 for s in preview)
    # Mirrored once Ready (before that the candidate gets nothing, not even copies).
    assert {s.mirror_percent(CANDIDATE) for s in preview} <= {0, 100}
    assert any(s.mirror_percent(CANDIDATE) == 100 for s in preview)


def test_the_blue_green_switch_stops_the_mirror() -> None:
    strategy = {"blueGreen": {"autoPromote": True, "prePromotionAnalysis": {
        "durationSeconds": 300, "minSamples": 500}}}
    world = mirrored({**errors_at(0.01, 0.01), "agreement": {"candidate": Rate(20, 0.995)}},
                     [ERRORS, AGREEMENT], strategy=strategy)
    world.run_until(lambda w: w.status.current_step_index == 1 or settled(w))
    assert world.status.current_step_index == 1
    world.tick()
    assert world.applied[-1].mirror_percent(CANDIDATE) == 0


def metric(**fields: Any) -> Metric:
    return Metric.model_validate({"name": "m", **fields})


def test_as_a_shadow_templates_read_the_shadow_series_for_the_candidate() -> None:
    errors = plan_metric(metric(template="errorRate"), 0, scope="", step_seconds=15,
                         as_shadow=True)
    assert isinstance(errors.query, CountsQuery)
    assert REQUESTS in errors.query.trials
    assert isinstance(errors.candidate_query, CountsQuery)
    assert SHADOW_REQUESTS in errors.candidate_query.trials
    latency = plan_metric(metric(template="latencyOver", thresholdMilliseconds=250), 0,
                          scope="", step_seconds=15, as_shadow=True)
    assert isinstance(latency.candidate_query, HistogramQuery)
    assert SHADOW_DURATION in latency.candidate_query.buckets
    p99 = plan_metric(metric(template="latencyQuantile", quantile=99,
                             relativeToleranceBasisPoints=1000), 0, scope="", step_seconds=15,
                      as_shadow=True)  # the README's sample judges p99 in its mirror step
    assert (p99.shape, p99.quantile) == (Shape.LATENCY_QUANTILE, 0.99)
    assert isinstance(p99.candidate_query, HistogramQuery)
    assert SHADOW_DURATION in p99.candidate_query.buckets
    accuracy = plan_metric(metric(template="feedbackAccuracy"), 0, scope="", step_seconds=15,
                           as_shadow=True)
    assert accuracy.shape is Shape.PAIRED
    assert accuracy.variants == (CANDIDATE,)
    assert isinstance(accuracy.query, CountsQuery)
    assert accuracy.discordant_query is not None
    assert accuracy.query.successes
    assert 'primary="incorrect",shadow="correct"' \
        in accuracy.query.successes
    assert accuracy.discordant_query.successes
    assert PAIRED_FEEDBACK \
        in accuracy.discordant_query.successes
    assert accuracy.discordant_query.metric == "m" + STABLE_ONLY
    live = plan_metric(metric(template="errorRate"), 0, scope="", step_seconds=15)
    assert live.candidate_query is None


def test_mcnemar_matches_the_reference_value() -> None:
    result = mcnemar(150, 86)
    assert result.statistic == pytest.approx(16.8178, abs=1e-4)
    assert result.p_value == pytest.approx(4.1146e-5, rel=1e-4)
    assert mcnemar(0, 0).p_value == 1.0


def test_pairs_become_the_paired_difference() -> None:
    difference = Pairs(n=1000, b=150, c=86).difference
    assert (difference.count, difference.total, difference.sum_squares) == (1000, -64.0, 236.0)
    assert Pairs(n=10, b=0, c=0).difference.sum_squares > 0  # the test can still move
    with pytest.raises(ValueError, match="b \\+ c <= n"):
        Pairs(n=10, b=6, c=6)


SHADOW = {"name": "sh1", "mirrorPercent": 50, "template": {"spec": {"containers": [
    {"name": "server", "image": "model:shadow"}]}}}
LIVE_STEPS: list[dict[str, Any]] = [
    {"setWeight": 20}, {"analysis": {"durationSeconds": 300, "minSamples": 500}},
    {"setWeight": 100}]


def with_shadow(agreement: float, *, gate: bool = False) -> World:
    metrics = {**errors_at(0.01, 0.01), "agreement": {"candidate": Rate(20, 0.995),
                                                      "sh1": Rate(20, agreement)}}
    metrics["errors"]["sh1"] = Rate(20, 0.01)
    world = mirrored(metrics, [ERRORS, AGREEMENT], LIVE_STEPS,
                     traffic={"stable": 20.0, "candidate": 5.0})
    world.spec["shadows"] = [{**SHADOW, "gate": gate}]
    world.shadows_ready = {"sh1": True}
    return world


def test_a_long_lived_shadow_gets_its_own_verdict_and_does_not_gate_by_default() -> None:
    world = with_shadow(0.7)
    world.run_until(lambda w: bool(w.status.shadows) or settled(w))
    shadow = world.status.shadows[0]
    assert (shadow.name, shadow.verdict, shadow.gates) == ("sh1", "Fail", False)
    assert shadow.message.startswith("shadow sh1: ")
    assert "agreement" in shadow.message
    assert {m.name for m in shadow.metrics} == {"errors", "agreement"}
    world.run_until(settled)
    assert promoted(world), "a shadow without gate must not stop the rollout"


def test_a_gating_shadow_that_fails_rolls_the_candidate_back() -> None:
    world = with_shadow(0.7, gate=True)
    world.run_until(settled)
    reason, message = rolled_back(world)
    assert reason == "ShadowFailed"
    assert message.startswith("shadow sh1: ")


def test_a_good_gating_shadow_lets_the_rollout_through() -> None:
    world = with_shadow(0.999, gate=True)
    world.run_until(settled)
    assert promoted(world)
    assert world.status.shadows[0].verdict in ("Pass", "Inconclusive")


def test_a_live_step_leaves_agreement_out_and_says_so() -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 20}, {"analysis": {"minSamples": 500}},
                                   {"setWeight": 100}]
    world = mirrored(errors_at(0.01, 0.01), [ERRORS, AGREEMENT], steps,
                     traffic={"stable": 20.0, "candidate": 5.0})
    world.run_until(lambda w: w.status.analysis is not None and bool(w.status.analysis.metrics))
    analysis = world.status.analysis
    assert analysis is not None
    assert [m.name for m in analysis.metrics] == ["errors"]
    assert "not judged at this live step: agreement" in analysis.message
    world.run_until(settled)
    assert promoted(world)


def test_a_live_step_with_only_agreement_is_a_configuration_error() -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 20}, {"analysis": {"minSamples": 500}}]
    world = mirrored(errors_at(0.01, 0.01), [AGREEMENT], steps)
    world.run_until(lambda w: w.status.hold is not None)
    assert world.status.hold is not None
    assert world.status.hold.reason == "AnalysisMisconfigured"
    assert "spec.analysis.metrics: only shadowAgreement" in world.status.hold.message


# --- always valid under repeated looks ----------------------------------------------------------

def false_alarms(config: MetricConfig, draw: Callable[[np.random.Generator, int],
                 tuple[VariantObservation, VariantObservation]], runs: int = 200,
                 looks: int = 40, per_look: int = 100) -> float:
    """The share of runs failed at any of `looks` looks, for a candidate exactly at the
    tolerance (the null's boundary)."""
    rng = np.random.default_rng(7)
    failed = 0
    for _ in range(runs):
        state = None
        for look_index in range(1, looks + 1):
            baseline, candidate = draw(rng, look_index * per_look)
            decision = judge_metrics([config], {config.name: MetricObservations(
                config.name, baseline, candidate)}, SplitObservation((0, 0), (1, 1)), state,
                AnalysisPolicy(missing_data_limit=10**9))
            state = decision.state
            if decision.verdict is OverallVerdict.FAIL:
                failed += 1
                break
    return failed / runs


def test_paired_accuracy_keeps_its_false_alarms_under_alpha_however_often_it_looks() -> None:
    config = MetricConfig("accuracy", MetricKind.MEAN, Direction.HIGHER_IS_BETTER,
                          min_samples=100, planned_samples=4000, bounds=(-1.0, 1.0))
    totals = {"b": 0, "c": 0, "n": 0}

    def draw(rng: np.random.Generator, n: int) -> tuple[VariantObservation,
                                                          VariantObservation]:
        if n == 100:
            totals.update(b=0, c=0, n=0)
        # 100 new pairs: 10% discordant each way, no true difference.
        outcome = rng.choice(3, size=100, p=[0.1, 0.1, 0.8])
        totals["b"] += int((outcome == 0).sum())
        totals["c"] += int((outcome == 1).sum())
        totals["n"] = n
        return NO_DIFFERENCE, Pairs(totals["n"], totals["b"], totals["c"]).difference

    assert false_alarms(config, draw) <= 0.05 + 0.03  # alpha, plus the noise of 200 runs


def test_agreement_at_its_floor_keeps_its_false_alarms_under_alpha() -> None:
    config = MetricConfig("agreement", MetricKind.PROPORTION, Direction.HIGHER_IS_BETTER,
                          tolerance=0.05, min_samples=100, planned_samples=4000,
                          bounds=(-1.0, 0.0))
    agreed = {"k": 0}

    def draw(rng: np.random.Generator, n: int) -> tuple[VariantObservation,
                                                          VariantObservation]:
        if n == 100:
            agreed["k"] = 0
        agreed["k"] += int(rng.binomial(100, 0.95))  # exactly at the 95% floor
        return PERFECT_AGREEMENT, ProportionObservation(agreed["k"], n)

    assert false_alarms(config, draw) <= 0.05 + 0.03
