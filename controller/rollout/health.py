"""Conditions and the display phase, derived from the status the machine just wrote."""

from __future__ import annotations

from controller.api.status import ConditionType, Phase
from controller.rollout.conditions import set_condition
from controller.rollout.draft import Draft
from controller.rollout.steps import analysis_step


def finish_status(draft: Draft) -> None:
    status = draft.status
    observation = draft.observation
    generation = observation.generation
    stable = status.stable_revision
    stable_child = observation.children.get(stable or "")
    stable_ready = stable_child is not None and stable_child.ready_for(draft.spec.replicas)
    rolling = status.candidate_revision is not None
    held = status.hold if rolling else None
    paused = rolling and (status.paused_by_user or draft.waiting_for_promote or held is not None)
    last = status.history[-1] if status.history else None
    rejected = status.rejected_revision is not None and not rolling

    def condition(type_: ConditionType, value: bool | None, reason: str, message: str) -> None:
        draft.set(conditions=set_condition(draft.status.conditions, type_, value, reason,
                                           message, generation, draft.now))

    if rolling:
        step = (status.current_step_index or 0) + 1
        reason, message = _progress(draft)
        condition("Progressing", True, reason,
                  f"candidate {status.candidate_revision} at step {step}{message}")
    elif last is not None:
        condition("Progressing", False, last.outcome, last.message)
    else:
        condition("Progressing", False, "NoRollout", f"revision {stable} is stable")

    if status.paused_by_user and rolling:
        condition("Paused", True, "PausedByUser", "resume or promote to continue")
    elif held is not None:
        condition("Paused", True, held.reason, held.message)
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


# The analysis of the current step cannot judge: said within one look, whatever the policy.
_UNOBSERVED = {"Error": "AnalysisCannotObserve", "NoData": "AnalysisNoData",
               "SampleRatioMismatch": "SampleRatioMismatch"}


def _progress(draft: Draft) -> tuple[str, str]:
    """Progressing's reason and the end of its message: RolloutInProgress, or why the
    current step's analysis cannot judge (its message names the field to look at)."""
    analysis = draft.status.analysis
    if analysis is None or analysis_step(draft.spec, draft.status.current_step_index) is None:
        return "RolloutInProgress", ""
    reason = _UNOBSERVED.get(analysis.verdict)
    counted = analysis.verdict != "NoData" or analysis.consecutive_missing > 0
    if reason is None or not counted:
        return "RolloutInProgress", ""
    return reason, f": {analysis.message}"


def _phase(rolling: bool, paused: bool, rejected: bool, stable_ready: bool) -> Phase:
    if rolling:
        return "Paused" if paused else "Progressing"
    if rejected:
        return "Degraded"
    return "Healthy" if stable_ready else "Initializing"
