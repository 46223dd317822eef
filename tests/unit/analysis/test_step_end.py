"""How an analysis step ends, measured by driving the pure state machine with the real
PrometheusAnalyzer over simulated counters: no silent pass at the end of durationSeconds,
minSamples per variant whatever the clock, and the onInconclusive policy."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.unit.analysis.simulated import (
    Rate,
    condition,
    counters,
    errors_at,
    events,
    paired_at,
    promoted,
    rollout,
    ticks,
)
from tests.unit.rollout.world import World, settled

pytestmark = pytest.mark.unit

ERRORS = {"name": "errors", "template": "errorRate"}
ACCURACY = {"name": "accuracy", "template": "feedbackAccuracy", "role": "Success",
            "toleranceBasisPoints": 100}
# Plenty of requests, but labels trickle in: the Success metric cannot be shown in 900 s.
SPARSE_LABELS = {**errors_at(0.01, 0.01),
                 "accuracy": {"stable": Rate(0.2, 0.9), "candidate": Rate(0.05, 0.9)}}
TRAFFIC = {"stable": 20.0, "candidate": 5.0}


def sparse(steps: list[dict[str, Any]] | None = None, **analysis: Any) -> World:
    return rollout(counters(SPARSE_LABELS, TRAFFIC), steps, metrics=[ERRORS, ACCURACY],
                   **analysis)


def at_step(world: World, index: int) -> None:
    world.run_until(lambda w: w.status.current_step_index == index)


def test_an_inconclusive_end_of_duration_holds_for_a_person_and_says_what_is_missing() -> None:
    world = sparse()
    at_step(world, 1)
    started = world.now
    world.run_until(lambda w: w.status.phase == "Paused" or settled(w))
    assert not promoted(world), "promoted while the Success metric was Inconclusive"
    assert world.now - started >= timedelta(seconds=900)
    status, reason, message = condition(world, "Paused")
    assert (status, reason) == ("True", "AnalysisInconclusive")
    assert re.search(r"accuracy n=\d+/\d+ .*needs \d+ more", message), message
    assert "onInconclusive=Hold" in message
    assert world.status.hold is not None
    assert world.status.hold.reason == "AnalysisInconclusive"
    ticks(world, 20)  # the analysis keeps watching; nothing moves without a person
    assert world.status.current_step_index == 1
    assert world.status.phase == "Paused"
    assert not promoted(world)
    assert len(events(world, "AnalysisInconclusive")) == 1


def test_a_person_promotes_a_held_step() -> None:
    world = sparse()
    world.run_until(lambda w: w.status.phase == "Paused")
    world.command("promote@1")
    world.run_until(settled)
    assert promoted(world)
    completed = [m for m in events(world, "StepCompleted") if m.startswith("step 2/3")]
    assert len(completed) == 1
    assert "promoted by command promote@1" in completed[0]
    assert "not judged" in completed[0]


def test_abort_rolls_back_a_held_step() -> None:
    world = sparse()
    world.run_until(lambda w: w.status.phase == "Paused")
    world.command("abort@1")
    world.tick()
    assert world.status.history[-1].outcome == "Aborted"
    assert world.status.hold is None


def test_on_inconclusive_rollback_rolls_back_with_reason_analysis_inconclusive() -> None:
    world = sparse(onInconclusive="Rollback")
    world.run_until(settled)
    entry = world.status.history[-1]
    assert (entry.outcome, entry.reason) == ("RolledBack", "AnalysisInconclusive")
    assert re.search(r"accuracy n=\d+/\d+ .*needs \d+ more", entry.message), entry.message


def test_on_inconclusive_promote_continues_and_says_so() -> None:
    steps: list[dict[str, Any]] = [
        {"setWeight": 20}, {"analysis": {"durationSeconds": 900, "onInconclusive": "Promote"}},
        {"setWeight": 100}]
    world = sparse(steps, onInconclusive="Rollback")  # the step's policy wins
    world.run_until(settled)
    assert promoted(world)
    completed = next(m for m in events(world, "StepCompleted") if m.startswith("step 2/3"))
    assert "ended Inconclusive, promoted by policy onInconclusive=Promote" in completed
    assert re.search(r"accuracy n=\d+/\d+", completed), completed


def test_blue_green_pre_promotion_analysis_holds_when_inconclusive() -> None:
    strategy = {"blueGreen": {"autoPromote": True, "prePromotionAnalysis": {
        "durationSeconds": 300}}}
    # The preview is judged as a shadow: its labels come paired with the stable's.
    labels = {**errors_at(0.01, 0.01), **paired_at(0.05, 0.1, 0.1)}
    world = rollout(counters(labels), metrics=[ERRORS, ACCURACY], strategy=strategy)
    world.run_until(lambda w: w.status.phase == "Paused" or settled(w))
    assert not promoted(world)
    assert condition(world, "Paused")[:2] == ("True", "AnalysisInconclusive")
    world.command("promote@1")
    world.run_until(settled)
    assert promoted(world)


def test_a_step_with_min_samples_waits_for_each_variant_whatever_the_clock() -> None:
    # 80% live on the candidate: it has 3000 samples after 150 s, the stable only after 600 s.
    fake = counters(errors_at(0.01, 0.01, rates=(5.0, 20.0)), {"stable": 5.0, "candidate": 20.0})
    world = rollout(fake, [{"setWeight": 80},
                           {"analysis": {"durationSeconds": 60, "minSamples": 3000}},
                           {"setWeight": 100}])
    at_step(world, 1)
    started = world.now
    at_step(world, 2)
    assert world.now - started >= timedelta(seconds=600)
    result = world.status.step_results[-1]
    assert (result.index, result.judged, result.verdict) == (1, True, "Pass")
    samples = re.search(r"errors n=(\d+)/(\d+)", result.message)
    assert samples is not None, result.message
    assert min(int(samples.group(1)), int(samples.group(2))) >= 3000


def test_the_inconclusive_policy_waits_for_min_samples_too() -> None:
    fake = counters(errors_at(0.01, 0.01, rates=(5.0, 20.0)), {"stable": 5.0, "candidate": 20.0})
    world = rollout(fake, [{"setWeight": 80}, {"analysis": {
        "durationSeconds": 60, "minSamples": 3000, "onInconclusive": "Rollback"}}])
    at_step(world, 1)
    started = world.now
    world.run_until(settled)
    assert promoted(world)  # a Pass once each variant has 3000 samples, never a rollback at 60 s
    assert world.now - started >= timedelta(seconds=600)
