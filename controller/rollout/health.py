"""Conditions and the display phase, derived from the status the machine just wrote."""

from __future__ import annotations

from controller.api.status import ConditionType, Phase
from controller.rollout.conditions import set_condition
from controller.rollout.draft import Draft


def finish_status(draft: Draft) -> None:
    status = draft.status
    observation = draft.observation
    generation = observation.generation
    stable = status.stable_revision
    stable_child = observation.children.get(stable or "")
    stable_ready = stable_child is not None and stable_child.ready_for(draft.spec.replicas)
    rolling = status.candidate_revision is not None
    paused = rolling and (status.paused_by_user or draft.waiting_for_promote)
    last = status.history[-1] if status.history else None
    rejected = status.rejected_revision is not None and not rolling

    def condition(type_: ConditionType, value: bool | None, reason: str, message: str) -> None:
        draft.set(conditions=set_condition(draft.status.conditions, type_, value, reason,
                                           message, generation, draft.now))

    if rolling:
        step = (status.current_step_index or 0) + 1
        condition("Progressing", True, "RolloutInProgress",
                  f"candidate {status.candidate_revision} at step {step}")
    elif last is not None:
        condition("Progressing", False, last.outcome, last.message)
    else:
        condition("Progressing", False, "NoRollout", f"revision {stable} is stable")

    if status.paused_by_user and rolling:
        condition("Paused", True, "PausedByUser", "resume or promote to continue")
    elif paused:
        condition("Paused", True, "WaitingForPromotion", "promote to continue")
    else:
        condition("Paused", False, "Running" if rolling else "NoRollout", "")

    if rejected and last is not None:
        condition("Degraded", True, last.reason, last.message)
        condition("Healthy", False, last.reason,
                  f"revision {status.rejected_revision} was {last.outcome.lower()}; "
                  f"stable {stable} serves all traffic")
    else:
        condition("Degraded", False, "RolloutHealthy", "")
        if rolling:
            condition("Healthy", False, "RolloutInProgress", "a candidate is being rolled out")
        elif stable_ready:
            condition("Healthy", True, "StableReady", f"revision {stable} serves all traffic")
        else:
            condition("Healthy", False, "StableNotReady",
                      f"revision {stable} has not all {draft.spec.replicas} replicas Ready")
    draft.set(observed_generation=generation, phase=_phase(rolling, paused, rejected,
                                                           stable_ready))


def _phase(rolling: bool, paused: bool, rejected: bool, stable_ready: bool) -> Phase:
    if rolling:
        return "Paused" if paused else "Progressing"
    if rejected:
        return "Degraded"
    return "Healthy" if stable_ready else "Initializing"
