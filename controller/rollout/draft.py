"""The state machine's scratchpad: the status being written, Events, and the next wake-up.

Transitions that several strategies share (start, advance, promote, roll back) live here so
each is written once and records history, Events and timestamps the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from controller.api.status import (
    SCALE_DOWNS_MAX_ITEMS,
    STEP_RESULTS_MAX_ITEMS,
    AnalysisStatus,
    HistoryEntry,
    Hold,
    ModelRolloutStatus,
    Outcome,
    ScaleDown,
    StepResult,
    Verdict,
)
from controller.rollout import looks
from controller.rollout.conditions import rfc3339
from controller.rollout.model import Event, Observation
from controller.rollout.steps import analysis_step, step_count, step_label

STEP_MESSAGE_LIMIT = 1024

# status.scaleDowns is bounded in the CRD: past it the oldest old stable is let go (deleted) early.
SCALE_DOWN_LIMIT = SCALE_DOWNS_MAX_ITEMS


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Draft:
    def __init__(self, observation: Observation) -> None:
        self.observation = observation
        self.spec = observation.spec
        self.now = observation.now
        self.status: ModelRolloutStatus = observation.status.model_copy(deep=True)
        if len(self.status.history) > self.spec.revision_history_limit:  # the limit was lowered
            self.set(history=self._bounded(self.status.history))
        self.events: list[Event] = []
        self.wake_at: datetime | None = None
        self.waiting_for_promote = False

    # --- small helpers ------------------------------------------------------------------------

    def set(self, **changes: Any) -> None:
        self.status = self.status.model_copy(update=changes)

    def event(self, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.events.append(Event(type_, reason, message))

    def wake_in(self, seconds: float) -> None:
        self.wake_at_time(self.now + timedelta(seconds=max(seconds, 0.0)))

    def wake_at_time(self, when: datetime) -> None:
        if self.wake_at is None or when < self.wake_at:
            self.wake_at = when

    def seconds_since(self, stamp: str | None) -> float:
        since = parse_time(stamp)
        return 0.0 if since is None else (self.now - since).total_seconds()

    @property
    def candidate(self) -> str | None:
        return self.status.candidate_revision

    # --- shared transitions -------------------------------------------------------------------

    def start_rollout(self, revision: str) -> None:
        now = rfc3339(self.now)
        self.set(candidate_revision=revision, rejected_revision=None, current_step_index=0,
                 step_started_at=now, rollout_started_at=now, candidate_unready_since=now,
                 candidate_ready_at=None, paused_by_user=False, analysis=None, hold=None,
                 step_results=[], analysis_history=[])
        strategy = "canary" if self.spec.strategy.canary else "blue/green"
        self.event("Normal", "RolloutStarted",
                   f"revision {revision}: {strategy} with {step_count(self.spec)} step(s) "
                   f"against stable {self.status.stable_revision}")

    def step_text(self, message: str) -> str:
        """'step 2/4 (analysis): <message>' for the current step."""
        index, total = self.status.current_step_index or 0, step_count(self.spec)
        label = step_label(self.spec, index) if index < total else "past the last step"
        return f"step {index + 1}/{total} ({label}): {message}"

    def record_step(self, message: str, *, judged: bool, verdict: Verdict | None = None
                    ) -> str:
        """Record how the current step ended in status.stepResults: judged by the analysis,
        or ended by time, traffic, readiness, a command or a policy. The verdict is the one
        that ended it, else the last look's (analysed steps). Returns its text."""
        index, total = self.status.current_step_index or 0, step_count(self.spec)
        text = self.step_text(message)[:STEP_MESSAGE_LIMIT]
        analysis = self.status.analysis
        if verdict is None and analysis is not None and analysis_step(self.spec, index):
            verdict = analysis.verdict
        result = StepResult(
            index=index, step=step_label(self.spec, index) if index < total else "none",
            judged=judged, verdict=verdict, message=text, finished_at=rfc3339(self.now))
        self.set(step_results=[*self.status.step_results, result][-STEP_RESULTS_MAX_ITEMS:])
        return text

    def record_look(self, analysis: AnalysisStatus) -> None:
        """Keep this look (and the traffic it saw) in the bounded status.analysisHistory."""
        index, total = self.status.current_step_index or 0, step_count(self.spec)
        step = step_label(self.spec, index) if index < total else "none"
        look = looks.snapshot(analysis, self.status.traffic)
        self.set(analysis_history=looks.recorded(self.status.analysis_history, index, step,
                                                 look))

    def finish_step(self, message: str, *, judged: bool, verdict: Verdict | None = None
                    ) -> None:
        """The current step is done: its result in status and a StepCompleted Event."""
        self.event("Normal", "StepCompleted",
                   self.record_step(message, judged=judged, verdict=verdict))

    def hold(self, reason: str, message: str) -> None:
        """The analysis stops the step for a person; said once in an Event, kept current in
        status.hold (its message follows every look)."""
        held = self.status.hold
        since = held.since if held is not None and held.reason == reason else rfc3339(self.now)
        self.set(hold=Hold(reason=reason, message=message[:4096], since=since))
        if held is None or held.reason != reason:
            self.event("Warning", reason, self.step_text(message)[:STEP_MESSAGE_LIMIT])

    def lift_hold(self, why: str) -> None:
        if self.status.hold is not None:
            self.event("Normal", "AnalysisResumed",
                       self.step_text(f"{self.status.hold.reason} no more: {why}"))
            self.set(hold=None)

    def advance(self) -> None:
        index = (self.status.current_step_index or 0) + 1
        self.set(current_step_index=index, step_started_at=rfc3339(self.now), analysis=None,
                 hold=None)
        self.wake_in(0)

    def promote(self, reason: str, message: str, last_step: str | None = None) -> None:
        """The candidate becomes stable; the Event also says how the step that ended the
        rollout ended (steps before it have their own StepCompleted Event)."""
        candidate, old = self.candidate, self.status.stable_revision
        assert candidate is not None
        assert old is not None
        strategy = self.spec.strategy.canary or self.spec.strategy.blue_green
        delay = strategy.scale_down_delay_seconds if strategy else 0
        at = rfc3339(self.now + timedelta(seconds=delay))
        scale_downs = [s for s in self.status.scale_downs if s.revision != candidate]
        scale_downs = [*scale_downs, ScaleDown(revision=old, at=at)][-SCALE_DOWN_LIMIT:]
        self._record(candidate, "Promoted", reason, message)
        self.set(stable_revision=candidate, candidate_revision=None, current_step_index=None,
                 step_started_at=None, rollout_started_at=None, candidate_unready_since=None,
                 candidate_ready_at=None, paused_by_user=False, scale_downs=scale_downs,
                 hold=None)
        said = f"{message}; {last_step}" if last_step else message
        self.event("Normal", "Promoted", f"revision {candidate} is stable: {said}"[:2048])
        self.wake_in(delay)

    def roll_back(self, reason: str, message: str, outcome: Outcome = "RolledBack") -> None:
        candidate = self.candidate
        assert candidate is not None
        self._record(candidate, outcome, reason, message)
        self.set(rejected_revision=candidate, candidate_revision=None, current_step_index=None,
                 step_started_at=None, rollout_started_at=None, candidate_unready_since=None,
                 candidate_ready_at=None, paused_by_user=False, hold=None)
        verb = "aborted" if outcome == "Aborted" else "rolled back"
        self.event("Warning", reason, f"revision {candidate} {verb}; 100% to stable "
                   f"{self.status.stable_revision}: {message}")

    def supersede(self, reason: str, message: str) -> None:
        candidate = self.candidate
        assert candidate is not None
        self._record(candidate, "Superseded", reason, message)
        self.set(candidate_revision=None, current_step_index=None, step_started_at=None,
                 rollout_started_at=None, candidate_unready_since=None, candidate_ready_at=None,
                 paused_by_user=False, hold=None)
        self.event("Normal", reason, message)

    def _record(self, revision: str, outcome: Outcome, reason: str, message: str) -> None:
        entry = HistoryEntry(revision=revision, outcome=outcome, reason=reason,
                             message=message[:1024], finished_at=rfc3339(self.now))
        self.set(history=self._bounded([*self.status.history, entry]))

    def _bounded(self, history: list[HistoryEntry]) -> list[HistoryEntry]:
        """The newest spec.revisionHistoryLimit entries."""
        return history[-self.spec.revision_history_limit:]
