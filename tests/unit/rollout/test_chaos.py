"""Chaos steps test the monitoring: the step passes only when the analysis catches the
injected faults in time (MonitoringDetectedFault); an analysis blind to them rolls the
candidate back (MonitoringBlind)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.api.status import AnalysisStatus, MetricResult, Verdict
from controller.rollout.model import AnalysisOutcome, Observation
from tests.unit.rollout.world import World, base_spec, settled, with_image

pytestmark = pytest.mark.unit

ANALYSIS = {"prometheus": {"address": "http://prometheus:9090"},
            "metrics": [{"name": "errors", "template": "errorRate"},
                        {"name": "latency", "template": "latencyShift"}],
            "intervalSeconds": 10}
CHAOS = {"chaos": {"fractionBasisPoints": 3000, "errorStatus": 500, "durationSeconds": 120}}
STEPS = [{"setWeight": 10}, CHAOS, {"analysis": {"durationSeconds": 60}}, {"setWeight": 50}]


def _look(observation: Observation, verdict: Verdict, failed: tuple[str, ...] = ()
          ) -> AnalysisOutcome:
    status = AnalysisStatus(
        verdict=verdict, updated_at=observation.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        message=f"{verdict} at this look",
        metrics=[MetricResult(name=name, verdict="Fail" if name in failed else "Inconclusive")
                 for name in ("errors", "latency")])
    return AnalysisOutcome(verdict, f"{verdict} at this look", candidate_samples=5000,
                           stable_samples=5000, status=status)


class Recorder:
    """An analyzer that fails on the chaos step (index 1) once `catch_after` looks passed,
    and passes elsewhere; it keeps every observation it was asked about."""

    def __init__(self, chaos_verdict: Verdict = "Fail", catch_after: int = 2) -> None:
        self.chaos_verdict = chaos_verdict
        self.catch_after = catch_after
        self.seen: list[Observation] = []

    def __call__(self, observation: Observation) -> AnalysisOutcome:
        self.seen.append(observation)
        if observation.status.current_step_index == 1:
            looks = sum(1 for o in self.seen if o.status.current_step_index == 1)
            if self.chaos_verdict == "Fail" and looks > self.catch_after:
                return _look(observation, "Fail", failed=("errors",))
            return _look(observation, "Inconclusive" if self.chaos_verdict == "Fail"
                         else self.chaos_verdict)
        return _look(observation, "Pass")


def started(analyzer: Recorder, steps: list[dict[str, object]] | None = None) -> World:
    world = World(base_spec(analysis=ANALYSIS, strategy={"canary": {"steps": steps or STEPS}}))
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    world.analyzer = analyzer
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    return world


def _events(world: World) -> list[tuple[str, str, str]]:
    return [(e.type, e.reason, e.message) for p in world.plans for e in p.events]


def test_detected_fault_passes_the_step_and_the_next_one_starts_fresh_without_faults() -> None:
    analyzer = Recorder()
    world = started(analyzer)
    faults = world.applied[-1].candidate_faults
    assert faults is not None
    assert (faults.fraction_basis_points, faults.error_status) == (3000, 500)
    world.run_until(lambda w: w.status.current_step_index == 2)
    assert world.status.candidate_revision is not None, "the rollout goes on"
    assert world.applied[-1].candidate_faults is None, "the faults are off in the next step"
    assert world.applied[-1].candidate_weight == 10
    assert world.status.analysis is None, "the fault window's analysis is not carried over"
    events = _events(world)
    detected = [m for t, r, m in events if r == "MonitoringDetectedFault"]
    assert len(detected) == 1
    assert all(t == "Normal" for t, r, _ in events
                                      if r == "MonitoringDetectedFault")
    assert "errors" in detected[0]
    assert "latency" not in detected[0].split("failed:")[1]
    assert "HTTP 500" in detected[0]
    completed = [m for t, r, m in events if r == "StepCompleted" and "chaos" in m]
    assert completed
    assert "MonitoringDetectedFault" in completed[0]
    result = world.status.step_results[-1]
    assert (result.index, result.judged, result.verdict) == (1, True, "Fail")

    world.run_until(settled)
    assert world.status.history[-1].outcome == "Promoted"
    assert world.condition("Degraded") == ("False", "RolloutHealthy")
    # The analysis step after the chaos judged afresh: its first look had no earlier state
    # and its window starts after the faults went off.
    chaos_end = max(o.now for o in analyzer.seen if o.status.current_step_index == 1)
    first = next(o for o in analyzer.seen if o.status.current_step_index == 2)
    assert first.status.analysis is None
    step_start = datetime.fromisoformat(
        (first.status.step_started_at or "").replace("Z", "+00:00")).astimezone(UTC)
    assert step_start >= chaos_end


def test_undetected_fault_rolls_back_as_monitoring_blind() -> None:
    world = started(Recorder(chaos_verdict="Inconclusive"))
    begun = world.now
    world.run_until(settled)
    assert (world.now - begun).total_seconds() >= 120, "the faults last the step's duration"
    assert world.condition("Degraded") == ("True", "MonitoringBlind")
    assert world.status.history[-1].outcome == "RolledBack"
    assert world.applied[-1].candidate_weight == 0
    assert world.applied[-1].candidate_faults is None
    blind = [(t, m) for t, r, m in _events(world) if r == "MonitoringBlind"]
    assert len(blind) == 1
    assert blind[0][0] == "Warning"
    assert "HTTP 500 on 30% of the candidate's requests" in blind[0][1]
    assert "missed by errors, latency" in blind[0][1]
    assert world.status.step_results[-1].message.startswith("step 2/4 (chaos): MonitoringBlind")


def test_a_pass_during_the_faults_does_not_end_the_step_early_and_is_blind() -> None:
    world = started(Recorder(chaos_verdict="Pass"))
    begun = world.now
    world.run_until(settled)
    assert (world.now - begun).total_seconds() >= 120
    assert world.condition("Degraded") == ("True", "MonitoringBlind")


def test_missing_data_rolled_back_by_policy_during_the_faults() -> None:
    def no_data(observation: Observation) -> AnalysisOutcome:
        if observation.status.current_step_index == 1:
            return AnalysisOutcome("NoData", "no series", action="Rollback")
        return AnalysisOutcome("Pass", "fine", candidate_samples=10**6)

    world = World(base_spec(analysis=ANALYSIS, strategy={"canary": {"steps": STEPS}}))
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    world.analyzer = no_data
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(settled)
    assert world.condition("Degraded") == ("True", "AnalysisNoData")


def test_a_segment_scoped_chaos_step_asks_for_faults_of_that_segment_only() -> None:
    segments = {"builtin": {"unit": {"header": "x-user-id"}, "overrides": {"segments": [
        {"name": "beta", "variant": "candidate", "units": ["u1", "u2"]}]}}}
    chaos = {"chaos": {"fractionBasisPoints": 10_000, "errorStatus": 503,
                       "durationSeconds": 60, "segment": "beta"}}
    world = World(base_spec(analysis=ANALYSIS, trafficRouting=segments,
                            strategy={"canary": {"steps": [{"setWeight": 10}, chaos]}}))
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    world.analyzer = Recorder()
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    faults = world.applied[-1].candidate_faults
    assert faults is not None
    assert (faults.segment, faults.header, faults.hashed_fraction_basis_points) == (
        "beta", None, None)
