"""The rollout state machine, strategy by strategy, in a simulated world."""

from __future__ import annotations

from datetime import timedelta

import pytest

from controller.rollout.model import AnalysisOutcome, Observation
from tests.unit.rollout.world import (
    World,
    base_spec,
    revision_for,
    rolling,
    settled,
    with_image,
)

pytestmark = pytest.mark.unit

ANALYSIS = {"prometheus": {"address": "http://prometheus:9090"},
            "metrics": [{"name": "errors", "template": "errorRate"}], "intervalSeconds": 10}


def deployed(spec: dict[str, object] | None = None) -> World:
    world = World(spec or base_spec())
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    return world


def test_first_revision_becomes_stable_without_a_rollout() -> None:
    world = deployed()
    assert world.status.candidate_revision is None
    assert world.status.phase == "Healthy"
    assert world.weights() == [0]
    assert [e.reason for e in world.plans[0].events] == ["Initialized"]


def test_canary_walks_every_weight_step_then_promotes() -> None:
    world = deployed()
    first = world.status.stable_revision
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(settled)
    assert world.weights() == [0, 20, 50, 100, 0]
    assert world.status.stable_revision != first
    assert world.status.history[-1].outcome == "Promoted"
    assert world.condition("Healthy") == ("True", "StableReady")
    assert world.condition("Progressing") == ("False", "Promoted")


def test_timed_pause_lasts_its_duration() -> None:
    world = deployed()
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    started = world.now
    world.run_until(lambda w: w.status.current_step_index == 2)
    assert world.now - started == timedelta(seconds=60)


def test_indefinite_pause_holds_until_promoted() -> None:
    world = deployed(base_spec(strategy={"canary": {"steps": [{"setWeight": 10}, {"pause": {}},
                                                              {"setWeight": 60}]}}))
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    for _ in range(5):
        world.tick()
    assert world.status.current_step_index == 1
    assert world.condition("Paused") == ("True", "WaitingForPromotion")
    assert world.status.phase == "Paused"
    world.command("promote@1")
    world.run_until(settled)
    assert world.weights() == [0, 10, 60, 0]


def test_abort_returns_all_traffic_to_stable_and_records_why() -> None:
    world = deployed()
    stable = world.status.stable_revision
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    world.command("abort@1")
    world.tick()
    assert world.applied[-1].candidate_weight == 0
    assert world.status.stable_revision == stable
    assert world.condition("Degraded") == ("True", "Aborted")
    assert world.status.history[-1].outcome == "Aborted"
    assert world.status.phase == "Degraded"
    rejected = world.status.rejected_revision
    assert world.plans[-1].deployments[rejected or ""] == 0
    for _ in range(3):  # stays rolled back: the same template is not tried again
        world.tick()
    assert world.status.candidate_revision is None


def test_retry_starts_the_rejected_revision_again() -> None:
    world = deployed()
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(rolling)
    world.command("abort@1")
    world.tick()
    world.command("retry@2")
    world.tick()
    assert world.status.candidate_revision is not None
    assert world.status.current_step_index == 0
    world.run_until(settled)
    assert world.status.history[-1].outcome == "Promoted"


def test_candidate_never_ready_is_rolled_back_at_the_progress_deadline() -> None:
    world = deployed(base_spec(progressDeadlineSeconds=120))
    broken = with_image(world.spec, "model:2")
    world.never_ready.add(revision_for(broken))
    world.edit(broken)
    started = world.now
    world.run_until(settled)
    finished = world.status.history[-1].finished_at
    assert finished == (started + timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert world.condition("Degraded") == ("True", "ProgressDeadlineExceeded")
    assert set(world.weights()) == {0}


def test_new_revision_mid_rollout_supersedes_the_candidate() -> None:
    world = deployed()
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    superseded = world.status.candidate_revision
    world.edit(with_image(world.spec, "model:3"))
    world.tick()
    assert world.status.history[-1].outcome == "Superseded"
    assert world.status.history[-1].revision == superseded
    assert world.status.candidate_revision not in (None, superseded)
    assert world.status.current_step_index == 0
    assert superseded not in world.plans[-1].deployments
    world.run_until(settled)
    assert world.weights() == [0, 20, 0, 20, 50, 100, 0]


def test_template_back_at_stable_cancels_the_candidate() -> None:
    world = deployed()
    original = world.spec
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    world.edit(original)
    world.tick()
    assert world.status.candidate_revision is None
    assert world.applied[-1].candidate_weight == 0
    assert world.condition("Degraded")[0] == "False"


def failing(observation: Observation) -> AnalysisOutcome:
    return AnalysisOutcome("Fail", "errors: candidate 2.1% vs stable 1.0%, p=0.0004")


def test_failing_analysis_rolls_back_with_the_statistical_reason() -> None:
    spec = base_spec(analysis=ANALYSIS, strategy={"canary": {"steps": [
        {"setWeight": 10}, {"analysis": {"durationSeconds": 300}}, {"setWeight": 50}]}})
    world = deployed(spec)
    world.analyzer = failing
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(settled)
    assert world.weights() == [0, 10, 0]
    assert world.condition("Degraded") == ("True", "AnalysisFailed")
    assert "p=0.0004" in world.status.history[-1].message


@pytest.mark.parametrize(("verdict", "action", "rolled_back"), [
    ("NoData", "Hold", False), ("Error", "Hold", False), ("SampleRatioMismatch", "Hold", False),
    ("NoData", "Rollback", True), ("SampleRatioMismatch", "Rollback", True),
])
def test_untrusted_analysis_holds_or_rolls_back_by_policy_and_never_promotes(
    verdict: str, action: str, rolled_back: bool
) -> None:
    spec = base_spec(analysis=ANALYSIS, strategy={"canary": {"steps": [
        {"setWeight": 10}, {"analysis": {"durationSeconds": 60}}]}})
    world = deployed(spec)
    world.analyzer = lambda _: AnalysisOutcome(verdict, "no data", action=action)  # type: ignore[arg-type]
    world.edit(with_image(world.spec, "model:2"))
    for _ in range(40):
        world.tick()
    assert not any(h.outcome == "Promoted" for h in world.status.history)
    assert (world.status.rejected_revision is not None) is rolled_back


def test_analysis_by_samples_waits_for_enough_samples() -> None:
    spec = base_spec(analysis=ANALYSIS, strategy={"canary": {"steps": [
        {"setWeight": 10}, {"analysis": {"minSamples": 1000}}]}})
    world = deployed(spec)
    samples = iter(range(0, 5000, 300))
    world.analyzer = lambda _: AnalysisOutcome("Pass", "fine", candidate_samples=next(samples))
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(settled)
    assert world.status.history[-1].outcome == "Promoted"
    analysis_ticks = [p for p in world.plans if p.status.current_step_index == 1]
    assert len(analysis_ticks) >= 4  # 0, 300, 600, 900 are not enough


def test_mirror_step_shadows_the_candidate_with_no_live_traffic() -> None:
    spec = base_spec(strategy={"canary": {"steps": [
        {"mirror": {"percent": 50, "durationSeconds": 120}}, {"setWeight": 30}]}})
    world = deployed(spec)
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 0 and w.applied[-1].mirrors != ())
    split = world.applied[-1]
    assert (split.candidate_weight, split.mirror_percent("candidate")) == (0, 50)
    world.run_until(settled)
    assert [s.mirror_percent("candidate") for s in world.applied] == [0, 0, 50, 0, 0]


def test_blue_green_previews_then_switches_all_at_once() -> None:
    spec = base_spec(strategy={"blueGreen": {"autoPromote": True, "autoPromotionSeconds": 90,
                                             "scaleDownDelaySeconds": 30}})
    world = deployed(spec)
    old = world.status.stable_revision
    world.edit(with_image(world.spec, "model:2"))
    world.step()
    candidate = world.status.candidate_revision
    assert world.plans[-1].candidate_service == candidate
    world.run_until(settled)
    assert set(world.weights()) == {0}  # never a live split: the Service switch is the cut-over
    assert world.status.stable_revision == candidate
    assert world.plans[-1].stable_service == candidate
    assert world.plans[-1].deployments[old or ""] == 2  # kept warm for scaleDownDelaySeconds
    world.run_until(lambda w: old not in w.plans[-1].deployments)


def test_blue_green_without_auto_promotion_waits_for_promote() -> None:
    world = deployed(base_spec(strategy={"blueGreen": {}}))
    world.edit(with_image(world.spec, "model:2"))
    for _ in range(5):
        world.tick()
    assert world.condition("Paused") == ("True", "WaitingForPromotion")
    world.command("promote-full@1")
    world.tick()
    assert world.status.history[-1].reason == "PromotedByUser"


def test_user_pause_and_resume() -> None:
    world = deployed()
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    world.command("pause@1")
    for _ in range(5):
        world.tick()
    assert world.status.current_step_index == 1
    assert world.condition("Paused") == ("True", "PausedByUser")
    world.command("resume@2")
    world.run_until(settled)
    assert world.status.history[-1].outcome == "Promoted"


def test_invalid_command_is_reported_once_and_changes_nothing() -> None:
    world = deployed()
    world.command("launch-rockets")
    world.tick()
    world.tick()
    warnings = [e for p in world.plans for e in p.events if e.reason == "InvalidCommand"]
    assert len(warnings) == 1
    assert "unknown action 'launch-rockets'" in warnings[0].message


def test_promote_full_skips_the_remaining_steps() -> None:
    world = deployed()
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    world.command("promote-full@1")
    world.tick()
    assert world.status.candidate_revision is None
    assert world.weights() == [0, 20, 0]


def test_shadows_get_traffic_only_while_ready() -> None:
    shadow = {"name": "challenger", "mirrorPercent": 10,
              "template": {"spec": {"containers": [{"name": "s", "image": "shadow:1"}]}}}
    world = deployed(base_spec(shadows=[shadow]))
    assert world.applied[-1].mirrors == ()
    world.shadows_ready["challenger"] = True
    world.tick()
    assert world.applied[-1].mirror_percent("challenger") == 10


def test_decide_is_deterministic() -> None:
    world = deployed()
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    observation = world.observe()
    from controller.rollout.machine import decide

    assert decide(observation) == decide(observation)


def test_promote_waits_pending_until_the_candidate_is_ready() -> None:
    world = deployed(base_spec(strategy={"canary": {"steps": [{"setWeight": 10},
                                                              {"pause": {}}]}}))
    slow = with_image(world.spec, "model:2")
    world.never_ready.add(revision_for(slow))
    world.edit(slow)
    world.step()
    world.command("promote-full@1")
    world.step()
    assert world.status.last_command is None, "not acted on while the candidate is not Ready"
    assert world.status.candidate_revision is not None
    world.never_ready.clear()  # its pods turn Ready before the deadline
    world.run_until(settled)
    assert world.status.last_command == "promote-full@1"
    assert world.status.history[-1].reason == "PromotedByUser"
