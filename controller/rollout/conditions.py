"""metav1.Condition bookkeeping: a pure function, so the state machine can use it too."""

from __future__ import annotations

from datetime import datetime

from controller.api.status import Condition, ConditionType


def rfc3339(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[Condition],
    type_: ConditionType,
    status: bool | None,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """Return conditions with `type_` set; lastTransitionTime moves only when status changes."""
    wire_status = "Unknown" if status is None else ("True" if status else "False")
    previous = next((c for c in conditions if c.type == type_), None)
    changed = previous is None or previous.status != wire_status
    updated = Condition(
        type=type_,
        status=wire_status,
        reason=reason,
        message=message,
        observed_generation=generation,
        last_transition_time=(
            rfc3339(now) if changed or previous is None else previous.last_transition_time
        ),
    )
    return [c for c in conditions if c.type != type_] + [updated]


def condition_status(conditions: list[Condition], type_: ConditionType) -> str | None:
    return next((c.status for c in conditions if c.type == type_), None)
