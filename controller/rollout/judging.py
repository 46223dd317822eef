"""How an analysed step ends: judged at each look, and by its policy when its time is up (an
analysis step), or by whether the analysis caught the injected faults (a chaos step)."""

from __future__ import annotations

from controller.api.status import Verdict
from controller.api.strategy import AnalysisStep, ChaosStep
from controller.rollout.draft import STEP_MESSAGE_LIMIT, Draft
from controller.rollout.model import AnalysisOutcome
from controller.rollout.steps import describe_faults, step_count
from controller.rollout.verdicts import judged

_UNTRUSTED = {"NoData": "AnalysisNoData", "Error": "AnalysisProviderError",
              "SampleRatioMismatch": "SampleRatioMismatch"}

DETECTED, BLIND = "MonitoringDetectedFault", "MonitoringBlind"


def complete_step(draft: Draft, message: str, *, judged: bool = False,
                  verdict: Verdict | None = None) -> None:
    """Finish the current step, saying how it ended: the next one starts, or the rollout is
    promoted."""
    index = draft.status.current_step_index or 0
    total = step_count(draft.spec)
    if index + 1 >= total:  # the last step's outcome is said in the Promoted Event
        last = draft.record_step(message, judged=judged, verdict=verdict)
        draft.promote("StepsCompleted", f"all {total} steps completed", last_step=last)
        return
    draft.finish_step(message, judged=judged, verdict=verdict)
    draft.advance()


FOR_A_PERSON = ("promote to continue or abort to roll back; the analysis keeps looking "
                "(a Pass continues, a Fail rolls back)")


INCONCLUSIVE = "AnalysisInconclusive"


def _samples_reached(step: AnalysisStep, outcome: AnalysisOutcome) -> bool:
    """minSamples, for each variant (the stable's only where a metric has a stable arm)."""
    wanted = step.min_samples
    if wanted is None:
        return True
    candidate, stable = outcome.candidate_samples, outcome.stable_samples
    return candidate is not None and candidate >= wanted and (stable is None or stable >= wanted)


def judge(draft: Draft, step: AnalysisStep) -> None:
    """Fail fast; never end on missing data; pass on a Pass (a durationSeconds step only at
    its end); an end without a Pass (minSamples reached) is what onInconclusive says. Holds
    are recomputed at every look."""
    outcome = draft.observation.analysis
    analysis = draft.spec.analysis
    interval = analysis.interval_seconds if analysis else 15
    if outcome is None:  # between looks the last one stands
        draft.wake_in(interval)
        return
    if outcome.status is not None:
        draft.set(analysis=outcome.status)
        draft.record_look(outcome.status)
    if outcome.shadows:
        draft.set(shadows=list(outcome.shadows))
    numbers = judged(draft.status.analysis)
    if outcome.verdict == "Fail":
        draft.record_step(f"judged Fail — {numbers}", judged=True)
        draft.roll_back("AnalysisFailed", outcome.reason)
        return
    shadow = next((s for s in outcome.shadows if s.gates and s.verdict == "Fail"), None)
    if shadow is not None:  # asked to gate (spec.shadows[].gate)
        draft.record_step(f"shadow {shadow.name} judged Fail", judged=True)
        draft.roll_back("ShadowFailed", shadow.message)
        return
    duration = step.duration_seconds
    elapsed = draft.seconds_since(draft.status.step_started_at)
    time_up = duration is not None and elapsed >= duration
    held = draft.status.hold
    if outcome.verdict in _UNTRUSTED:
        if outcome.action == "Rollback":
            draft.record_step(f"not judged ({outcome.verdict}), rolled back by policy",
                              judged=False)
            draft.roll_back(_UNTRUSTED[outcome.verdict], outcome.reason)
        elif outcome.hold is not None:
            draft.hold(outcome.hold, f"{outcome.reason}; {FOR_A_PERSON}")
        elif held is not None and held.reason != INCONCLUSIVE:
            draft.lift_hold(f"{outcome.verdict} within its policy's limit")
        draft.wake_in(interval)
        return
    if held is not None and held.reason != INCONCLUSIVE:
        draft.lift_hold(f"the analysis judges again ({outcome.verdict})")
    if not _samples_reached(step, outcome):
        draft.wake_in(interval)  # minSamples per variant, whatever the clock
        return
    if outcome.verdict == "Pass" or (outcome.plan_reached and (duration is None or time_up)):
        complete_step(draft, f"judged Pass — {numbers}", judged=True, verdict="Pass")
        return
    if duration is None or not time_up:
        draft.wake_in(interval)
        return
    policy = step.on_inconclusive or (analysis.on_inconclusive if analysis else "Hold")
    ended = (f"analysis ended {outcome.verdict} after {elapsed:.0f}s "
             f"(onInconclusive={policy}): {numbers}")
    if policy == "Rollback":
        draft.record_step(ended, judged=False)
        draft.roll_back(INCONCLUSIVE, ended)
    elif policy == "Promote":
        complete_step(draft, f"ended {outcome.verdict}, promoted by policy "
                       f"onInconclusive=Promote — {numbers}")
    else:
        draft.hold(INCONCLUSIVE, f"{ended}; {FOR_A_PERSON}")
        draft.wake_in(interval)


CHAOS_FOR_A_PERSON = ("the faults stay on until the step ends: a Fail in time completes it "
                      f"({DETECTED}), its end without one rolls back ({BLIND})")


def judge_chaos(draft: Draft, step: AnalysisStep, chaos: ChaosStep) -> None:
    """A chaos step inverts the verdict: it tests the monitoring, not the candidate. A Fail
    within the step (a guardrail caught the injected faults) completes it as
    MonitoringDetectedFault — the faults go off with the next step's split and its analysis
    starts afresh (Draft.advance). Its end without a Fail rolls the candidate back as
    MonitoringBlind: an analysis blind to a known fault cannot be trusted to judge it. An
    untrusted look (NoData, Error, SRM) asking for a rollback by policy still rolls back;
    one asking to hold holds, but the step's clock still ends it."""
    outcome = draft.observation.analysis
    analysis = draft.spec.analysis
    interval = analysis.interval_seconds if analysis else 15
    duration = step.duration_seconds or 0
    elapsed = draft.seconds_since(draft.status.step_started_at)
    if outcome is not None and outcome.status is not None:
        draft.set(analysis=outcome.status)
    if outcome is not None and outcome.shadows:
        draft.set(shadows=list(outcome.shadows))
    faults = describe_faults(chaos)
    if outcome is not None and outcome.verdict == "Fail":
        caught = _metric_names(draft, "Fail") or ["the analysis"]
        message = (f"the analysis caught {faults} within {elapsed:.0f}s (failed: "
                   f"{', '.join(caught)}); faults off, the next step judged afresh")
        draft.event("Normal", DETECTED, draft.step_text(message)[:STEP_MESSAGE_LIMIT])
        complete_step(draft, f"{DETECTED}: {message} — {judged(draft.status.analysis)}",
                       judged=True, verdict="Fail")
        return
    if outcome is not None and outcome.verdict in _UNTRUSTED and outcome.action == "Rollback":
        draft.record_step(f"not judged ({outcome.verdict}), rolled back by policy",
                          judged=False)
        draft.roll_back(_UNTRUSTED[outcome.verdict], outcome.reason)
        return
    if elapsed >= duration:
        missed = _metric_names(draft, None) or ["(no metric)"]
        last = draft.status.analysis
        said = f"{last.verdict}: {last.message}" if last is not None else "no look"
        message = (f"{faults} for {duration}s and the analysis never caught it (missed by "
                   f"{', '.join(missed)}; last look {said})")
        draft.record_step(f"{BLIND}: {message}", judged=False)
        draft.roll_back(BLIND, f"the monitoring is blind: {message}; the candidate cannot "
                               "be judged by it — fix the metrics and retry")
        return
    if outcome is not None and outcome.verdict in _UNTRUSTED:
        if outcome.hold is not None:
            draft.hold(outcome.hold, f"{outcome.reason}; {CHAOS_FOR_A_PERSON}")
    elif draft.status.hold is not None and outcome is not None:
        draft.lift_hold(f"the analysis judges again ({outcome.verdict})")
    draft.wake_in(min(interval, duration - elapsed))


def _metric_names(draft: Draft, verdict: Verdict | None) -> list[str]:
    """The metrics of the last look with `verdict` (every metric of the spec for None)."""
    if verdict is None:
        analysis = draft.spec.analysis
        return [m.name for m in analysis.metrics] if analysis else []
    status = draft.status.analysis
    return [m.name for m in status.metrics if m.verdict == verdict] if status else []
