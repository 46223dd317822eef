"""The rollout state machine: decide(observation) -> plan, a pure function.

One call moves a rollout at most one step, so every step's traffic reaches the data plane
before the next one starts. Traffic is derived from (spec, step index, readiness), never
stored as the source of truth, so a restarted operator re-derives the same split and never
moves traffic backwards or re-runs a finished step.
"""

from __future__ import annotations

from controller.api.status import Mirror as MirrorStatus
from controller.api.status import Traffic
from controller.contract.table import CANDIDATE
from controller.rollout.commands import Command, InvalidCommand
from controller.rollout.conditions import rfc3339
from controller.rollout.draft import Draft, parse_time
from controller.rollout.health import finish_status
from controller.rollout.judging import complete_step, judge, judge_chaos
from controller.rollout.model import Observation, Plan
from controller.rollout.revision import shadow_revisions, spec_revision
from controller.rollout.split import TrafficSplit
from controller.rollout.steps import (
    analysis_step,
    blue_green_split,
    canary_split,
    canary_steps,
    shadow_mirrors,
    step_count,
    step_duration,
)
from controller.rollout.verdicts import judged

RESYNC_SECONDS = 300.0


def decide(observation: Observation) -> Plan:
    draft = Draft(observation)
    revision = spec_revision(observation.spec)
    command = _take_command(draft)
    if _follow_template(draft, revision, command):
        assert command is not None
        _consume(draft, command)  # the retry it carried has been acted on
        command = None
    if draft.candidate is not None:
        _progress(draft, command)
    elif command is not None:
        _consume(draft, command)
        what = "nothing was rolled back" if command.action == "retry" else "no rollout in progress"
        draft.event("Warning", "CommandIgnored", f"{command.action}: {what}")
    _expire_scale_downs(draft)
    traffic = _traffic(draft)
    draft.set(traffic=Traffic(
        stable_weight=traffic.stable_weight, candidate_weight=traffic.candidate_weight,
        mirrors=[MirrorStatus(variant=m.variant, percent=m.percent) for m in traffic.mirrors]))
    finish_status(draft)
    return Plan(
        status=draft.status, revision=revision, deployments=_deployments(draft),
        stable_service=draft.status.stable_revision or revision,
        candidate_service=draft.candidate, traffic=traffic, events=tuple(draft.events),
        requeue_after_seconds=_requeue(draft),
    )


def _take_command(draft: Draft) -> Command | None:
    """The pending command; an invalid one is reported (once) and goes no further."""
    command = draft.observation.command
    if isinstance(command, InvalidCommand):
        draft.set(last_command=command.value)
        draft.event("Warning", "InvalidCommand", command.message)
        return None
    return command


def _consume(draft: Draft, command: Command) -> None:
    """Mark the command done: status.lastCommand makes it run once, across restarts."""
    draft.set(last_command=command.value)
    draft.event("Normal", "CommandReceived", f"{command.action} ({command.value})")


def _follow_template(draft: Draft, revision: str, command: Command | None) -> bool:
    """Start, supersede or cancel a rollout as the template asks; True when a retry was used."""
    status = draft.status
    if status.stable_revision is None:
        draft.set(stable_revision=revision)
        draft.event("Normal", "Initialized", f"revision {revision} is the first; it is stable")
        return False
    if revision == status.stable_revision:
        if draft.candidate is not None:
            draft.supersede("TemplateReverted",
                            f"the template is back at stable revision {revision}")
        draft.set(rejected_revision=None)
        return False
    if revision == draft.candidate:
        return False
    retrying = command is not None and command.action == "retry"
    if revision == status.rejected_revision and not retrying:
        return False  # stays rolled back until `retry` or a new template
    if draft.candidate is not None:
        draft.supersede("Superseded",
                        f"revision {revision} supersedes candidate {draft.candidate}")
    draft.start_rollout(revision)
    return retrying and revision == status.rejected_revision


def _candidate_ready(draft: Draft) -> bool:
    child = draft.observation.children.get(draft.candidate or "")
    return child is not None and child.ready_for(draft.spec.replicas)


def _progress(draft: Draft, command: Command | None) -> None:
    ready = _candidate_ready(draft)
    if command is not None and _apply_command(draft, command, ready):
        return
    if not ready:
        _wait_for_readiness(draft)
        return
    if draft.status.candidate_unready_since is not None:
        # Timed steps count Ready time only: the current step starts over once Ready.
        now = rfc3339(draft.now)
        draft.set(candidate_unready_since=None, step_started_at=now,
                  candidate_ready_at=draft.status.candidate_ready_at or now)
    if draft.status.paused_by_user:
        return
    if draft.spec.strategy.canary:
        _canary_step(draft)
    else:
        _blue_green_step(draft)


def _apply_command(draft: Draft, command: Command, ready: bool) -> bool:
    """Act on a manual command; True when it ended this reconcile's work. A promote waits,
    still pending, until the candidate is Ready: it is neither lost nor acted on early."""
    action = command.action
    if action in ("promote", "promote-full") and not ready:
        return False
    _consume(draft, command)
    if action == "abort":
        draft.record_step(f"aborted by command {command.value}{_not_judged(draft)}",
                          judged=False)
        draft.roll_back("Aborted", f"aborted by command {command.value}", outcome="Aborted")
        return True
    hold = draft.status.hold
    if action == "resume" and hold is not None and not draft.status.paused_by_user:
        draft.event("Warning", "CommandIgnored", f"resume: the analysis holds the step "
                    f"({hold.reason}); promote to continue or abort to roll back")
        return False
    if action in ("pause", "resume"):
        draft.set(paused_by_user=action == "pause")
        return False
    if action == "retry":
        draft.event("Warning", "CommandIgnored", "retry: the candidate was not rolled back")
        return False
    if action == "promote-full":
        last = draft.record_step(
            f"promoted in full by command {command.value}{_not_judged(draft)}", judged=False)
        draft.promote("PromotedByUser", f"promoted in full by command {command.value}",
                      last_step=last)
        return True
    complete_step(draft, f"step promoted by command {command.value}{_not_judged(draft)}")
    return True


def _not_judged(draft: Draft) -> str:
    """' (not judged)', with the last look's numbers when the step is analysed."""
    analysis = draft.status.analysis
    if analysis is None or analysis_step(draft.spec, draft.status.current_step_index) is None:
        return " (not judged)"
    return f" (not judged: the last look was {analysis.verdict} — {judged(analysis)})"


def _wait_for_readiness(draft: Draft) -> None:
    since = parse_time(draft.status.candidate_unready_since)
    if since is None:
        draft.set(candidate_unready_since=rfc3339(draft.now))
        since = draft.now
    deadline = draft.spec.progress_deadline_seconds
    waited = (draft.now - since).total_seconds()
    if waited >= deadline:
        message = f"candidate {draft.candidate} not Ready within {deadline}s"
        draft.record_step(f"{message} (not judged)", judged=False)
        draft.roll_back("ProgressDeadlineExceeded", message)
        return
    draft.wake_in(deadline - waited)


def _canary_step(draft: Draft) -> None:
    index = draft.status.current_step_index or 0
    total = step_count(draft.spec)
    if index >= total:  # the steps were shortened under a rollout past the new end
        draft.promote("StepsCompleted", f"all {total} steps completed")
        return
    step = canary_steps(draft.spec)[index]
    if not _step_traffic_applied(draft, index):
        draft.wake_in(0)  # this step's split reaches the data plane before the step can end
        return
    if step.set_weight is not None:
        complete_step(draft, f"candidate at {step.set_weight}% live (not judged)")
        return
    gate = analysis_step(draft.spec, index)
    if gate is not None and step.chaos is not None:
        judge_chaos(draft, gate, step.chaos)
        return
    if gate is not None:
        judge(draft, gate)
        return
    duration = step_duration(step)
    if duration is None:
        draft.waiting_for_promote = True
        return
    elapsed = draft.seconds_since(draft.status.step_started_at)
    if elapsed >= duration:
        complete_step(draft, f"{duration}s elapsed (not judged)")
    else:
        draft.wake_in(duration - elapsed)


def _step_traffic_applied(draft: Draft, index: int) -> bool:
    """Whether the previous reconcile already applied the split this step asks for."""
    applied = draft.observation.status.traffic
    stable, candidate = draft.status.stable_revision, draft.candidate
    assert stable is not None
    assert candidate is not None
    wanted = canary_split(draft.spec, stable, candidate, index, True, ())
    if applied is None or applied.candidate_weight != wanted.candidate_weight:
        return False
    applied_mirror = next((m.percent for m in applied.mirrors if m.variant == CANDIDATE), 0)
    return applied_mirror == wanted.mirror_percent(CANDIDATE)


def _blue_green_step(draft: Draft) -> None:
    blue_green = draft.spec.strategy.blue_green
    assert blue_green is not None
    index = draft.status.current_step_index or 0
    if index == 0:  # the preview; any later index is the switch
        gate = analysis_step(draft.spec, index)
        if gate is not None:
            judge(draft, gate)
        else:
            complete_step(draft, "candidate Ready behind the preview Service (not judged)")
        return
    if not blue_green.auto_promote:
        draft.waiting_for_promote = True
        return
    wait = blue_green.auto_promotion_seconds or 0
    elapsed = draft.seconds_since(draft.status.step_started_at)
    if elapsed >= wait:
        last = draft.record_step(f"{wait}s elapsed (not judged)", judged=False)
        draft.promote("AutoPromoted", f"switched after {wait}s of preview", last_step=last)
    else:
        draft.wake_in(wait - elapsed)




def _traffic(draft: Draft) -> TrafficSplit:
    stable = draft.status.stable_revision
    assert stable is not None
    shadows = shadow_mirrors(draft.spec, shadow_revisions(draft.spec),
                             dict(draft.observation.shadows_ready))
    candidate = draft.candidate
    index = draft.status.current_step_index or 0
    if draft.spec.strategy.blue_green:
        return blue_green_split(draft.spec, stable, candidate, index, _candidate_ready(draft),
                                shadows)
    if candidate is None:
        return TrafficSplit(stable, candidate, 0, shadows)
    return canary_split(draft.spec, stable, candidate, index, _candidate_ready(draft), shadows)


def _deployments(draft: Draft) -> dict[str, int]:
    replicas = draft.spec.replicas
    wanted: dict[str, int] = {s.revision: replicas for s in draft.status.scale_downs}
    if draft.status.rejected_revision:
        wanted[draft.status.rejected_revision] = 0
    if draft.status.stable_revision:
        wanted[draft.status.stable_revision] = replicas
    if draft.candidate:
        wanted[draft.candidate] = replicas
    return wanted


def _expire_scale_downs(draft: Draft) -> None:
    keep = []
    for scale_down in draft.status.scale_downs:
        at = parse_time(scale_down.at)
        if scale_down.revision == draft.status.stable_revision:
            continue
        if at is not None and at > draft.now:
            keep.append(scale_down)
            draft.wake_at_time(at)
    if keep != draft.status.scale_downs:
        draft.set(scale_downs=keep)


def _requeue(draft: Draft) -> float:
    if draft.wake_at is None:
        return RESYNC_SECONDS
    return max((draft.wake_at - draft.now).total_seconds(), 0.0)


def analysis_due(observation: Observation) -> bool:
    """Whether the shell should ask the analyzer before deciding: an analysis gates the current
    step and the last look is at least one interval old."""
    status, spec = observation.status, observation.spec
    if status.candidate_revision is None or status.paused_by_user:
        return False
    if analysis_step(spec, status.current_step_index) is None:
        return False
    last = parse_time(status.analysis.updated_at) if status.analysis else None
    interval = spec.analysis.interval_seconds if spec.analysis else 15
    return last is None or (observation.now - last).total_seconds() >= interval
