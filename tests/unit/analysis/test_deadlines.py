"""No endless silent hold: missing data and provider errors are tolerated up to
maxConsecutive looks and deadlineSeconds, then the policy acts (Rollback, or a Paused hold
that says why); what cannot be observed is said in a condition within one look."""

from __future__ import annotations

from datetime import timedelta

import pytest

from controller.analysis.provider import ProviderError
from controller.rollout.draft import parse_time
from tests.doubles import FakeProvider
from tests.unit.analysis.simulated import (
    condition,
    counters,
    down,
    errors_at,
    events,
    rollout,
    ticks,
)
from tests.unit.rollout.world import World, settled

pytestmark = pytest.mark.unit

HEALTHY = errors_at(0.01, 0.01)
TRAFFIC = {"stable": 20.0, "candidate": 5.0}


def at_analysis(world: World) -> None:
    world.run_until(lambda w: w.status.current_step_index == 1)


def looked(world: World) -> bool:
    return world.status.analysis is not None and world.status.analysis.verdict != "NoData"


def test_an_unreachable_prometheus_is_a_condition_naming_the_field_within_one_look() -> None:
    world = rollout(down())
    at_analysis(world)
    world.run_until(lambda w: w.status.analysis is not None
                    and w.status.analysis.verdict == "Error")
    status, reason, message = condition(world, "Progressing")
    assert (status, reason) == ("True", "AnalysisCannotObserve")
    assert "spec.analysis.prometheus (address http://prometheus:9090" in message
    assert "Prometheus unreachable: refused" in message
    assert world.status.phase == "Progressing"  # tolerated so far (maxConsecutive 4)


def test_provider_errors_past_max_consecutive_pause_for_a_person_by_default() -> None:
    world = rollout(down())
    at_analysis(world)
    started = world.now
    world.run_until(lambda w: w.status.phase == "Paused" or settled(w))
    assert not settled(world)
    status, reason, message = condition(world, "Paused")
    assert (status, reason) == ("True", "AnalysisProviderError")
    assert "spec.analysis.onProviderError: 5 consecutive look(s) with provider errors " \
           "(tolerated: 4; now pause for a person)" in message
    assert "promote to continue or abort to roll back" in message
    assert world.now - started <= timedelta(seconds=120)
    assert events(world, "AnalysisProviderError")  # a Warning Event, once
    ticks(world, 10)
    assert world.status.phase == "Paused"
    assert len(events(world, "AnalysisProviderError")) == 1


def test_missing_data_past_the_deadline_rolls_back_however_many_looks_are_tolerated() -> None:
    world = rollout(FakeProvider({}), onMissingData={"action": "Rollback",
                                                     "maxConsecutive": 1000,
                                                     "deadlineSeconds": 60})
    at_analysis(world)
    world.run_until(lambda w: w.status.analysis is not None
                    and w.status.analysis.consecutive_missing > 0)
    first = world.status.analysis
    assert first is not None
    since = parse_time(first.missing_since)
    assert since is not None
    world.run_until(settled)
    entry = world.status.history[-1]
    assert (entry.outcome, entry.reason) == ("RolledBack", "AnalysisNoData")
    assert "deadlineSeconds 60 passed" in entry.message
    finished = parse_time(entry.finished_at)
    assert finished is not None
    assert timedelta(seconds=60) <= finished - since <= timedelta(seconds=75)


def test_a_hold_past_the_deadline_says_so_and_lifts_when_data_returns() -> None:
    fake = FakeProvider({})
    world = rollout(fake, onMissingData={"maxConsecutive": 1000, "deadlineSeconds": 60})
    at_analysis(world)
    world.run_until(lambda w: w.status.phase == "Paused")
    status, reason, message = condition(world, "Paused")
    assert (status, reason) == ("True", "AnalysisNoData")
    assert "deadlineSeconds 60 passed" in message
    assert world.status.hold is not None
    fake.answers = counters(HEALTHY, TRAFFIC).answers  # Prometheus has the series again
    world.run_until(lambda w: w.status.hold is None)
    assert events(world, "AnalysisResumed")
    world.run_until(settled)
    assert world.status.history[-1].outcome == "Promoted"


def test_a_spec_that_cannot_be_judged_pauses_at_the_first_look_naming_the_field() -> None:
    slow = {"name": "slow", "template": "latencyOver", "thresholdMilliseconds": 300}
    world = rollout(FakeProvider({}), metrics=[slow],
                    onProviderError={"action": "Rollback", "maxConsecutive": 1})
    at_analysis(world)
    world.run_until(lambda w: w.status.phase == "Paused" or settled(w))
    assert not settled(world), "the candidate is not at fault: never rolled back for it"
    status, reason, message = condition(world, "Paused")
    assert (status, reason) == ("True", "AnalysisMisconfigured")
    assert "spec.analysis.metrics[0].thresholdMilliseconds" in message
    progressing = condition(world, "Progressing")
    assert progressing[1] == "AnalysisCannotObserve"
    assert "spec.analysis.metrics[0].thresholdMilliseconds" in progressing[2]


def test_a_failing_query_names_its_metric() -> None:
    answers = counters(HEALTHY, TRAFFIC).answers
    fake = FakeProvider({**answers, ("errors", "candidate"): ProviderError(
        "query", "bad(", "parse error")})
    world = rollout(fake)
    at_analysis(world)
    world.run_until(lambda w: w.status.analysis is not None
                    and w.status.analysis.verdict == "Error")
    reason, message = condition(world, "Progressing")[1:]
    assert reason == "AnalysisCannotObserve"
    assert "spec.analysis.metrics[0] (errors): candidate: query failed: parse error" in message
