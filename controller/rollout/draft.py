"""The state machine's scratchpad: the status being written, Events, and the next wake-up.

Transitions that several strategies share (start, advance, promote, roll back) live here so
each is written once and records history, Events and timestamps the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from controller.api.status import (
    SCALE_DOWNS_MAX_ITEMS,
    HistoryEntry,
    ModelRolloutStatus,
    Outcome,
    ScaleDown,
)
from controller.rollout.conditions import rfc3339
from controller.rollout.model import Event, Observation
from controller.rollout.steps import step_count

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
                 candidate_ready_at=None, paused_by_user=False, analysis=None)
        strategy = "canary" if self.spec.strategy.canary else "blue/green"
        self.event("Normal", "RolloutStarted",
                   f"revision {revision}: {strategy} with {step_count(self.spec)} step(s) "
                   f"against stable {self.status.stable_revision}")

    def advance(self, message: str) -> None:
        index = (self.status.current_step_index or 0) + 1
        self.event("Normal", "StepCompleted", message)
        self.set(current_step_index=index, step_started_at=rfc3339(self.now), analysis=None)
        self.wake_in(0)

    def promote(self, reason: str, message: str) -> None:
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
                 candidate_ready_at=None, paused_by_user=False, scale_downs=scale_downs)
        self.event("Normal", "Promoted", f"revision {candidate} is stable: {message}")
        self.wake_in(delay)

    def roll_back(self, reason: str, message: str, outcome: Outcome = "RolledBack") -> None:
        candidate = self.candidate
        assert candidate is not None
        self._record(candidate, outcome, reason, message)
        self.set(rejected_revision=candidate, candidate_revision=None, current_step_index=None,
                 step_started_at=None, rollout_started_at=None, candidate_unready_since=None,
                 candidate_ready_at=None, paused_by_user=False)
        verb = "aborted" if outcome == "Aborted" else "rolled back"
        self.event("Warning", reason, f"revision {candidate} {verb}; 100% to stable "
                   f"{self.status.stable_revision}: {message}")

    def supersede(self, reason: str, message: str) -> None:
        candidate = self.candidate
        assert candidate is not None
        self._record(candidate, "Superseded", reason, message)
        self.set(candidate_revision=None, current_step_index=None, step_started_at=None,
                 rollout_started_at=None, candidate_unready_since=None, candidate_ready_at=None,
                 paused_by_user=False)
        self.event("Normal", reason, message)

    def _record(self, revision: str, outcome: Outcome, reason: str, message: str) -> None:
        entry = HistoryEntry(revision=revision, outcome=outcome, reason=reason,
                             message=message[:1024], finished_at=rfc3339(self.now))
        self.set(history=self._bounded([*self.status.history, entry]))

    def _bounded(self, history: list[HistoryEntry]) -> list[HistoryEntry]:
        """The newest spec.revisionHistoryLimit entries."""
        return history[-self.spec.revision_history_limit:]
