"""One reconcile step as a pure function: what the status should say and which Events to post.

This is the operator skeleton's core: it validates the spec, names the template's revision, and
keeps observedGeneration and the standard conditions. The rollout state machine builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from controller.api.spec import ModelRolloutSpec
from controller.api.status import ConditionType, ModelRolloutStatus
from controller.conditions import set_condition
from controller.revision import template_revision

_INITIAL_CONDITIONS: tuple[tuple[ConditionType, bool | None], ...] = (
    ("Progressing", None), ("Healthy", None), ("Paused", False),
)


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    status: ModelRolloutStatus
    events: list[Event] = field(default_factory=list)


def describe_validation_error(error: ValidationError) -> str:
    """'spec.port: Input should be ...; ...' — every problem named by its field path."""
    problems = []
    for issue in error.errors():
        path = ".".join(str(part) for part in ("spec", *issue["loc"]))
        problems.append(f"{path}: {issue['msg']}")
    return "; ".join(problems)


def reconcile(
    spec: dict[str, Any], status: dict[str, Any], generation: int, now: datetime
) -> Decision:
    current = ModelRolloutStatus.model_validate(status or {})
    try:
        parsed = ModelRolloutSpec.model_validate(spec)
    except ValidationError as error:
        return _invalid_spec(current, describe_validation_error(error), generation, now)
    revision = template_revision(parsed.template.model_dump(by_alias=True, exclude_none=True))
    events: list[Event] = []
    if current.observed_generation != generation:
        events.append(Event("Normal", "Observed",
                            f"generation {generation}, template revision {revision}"))
    # Every condition is re-evaluated on each reconcile, so each now speaks for this generation.
    conditions = [c.model_copy(update={"observed_generation": generation})
                  for c in current.conditions]
    if not conditions:
        for type_, value in _INITIAL_CONDITIONS:
            conditions = set_condition(conditions, type_, value, "Initializing",
                                       "waiting for the rollout engine", generation, now)
    conditions = set_condition(conditions, "Degraded", False, "SpecValid",
                               "the spec is valid", generation, now)
    updated = current.model_copy(update={
        "observed_generation": generation,
        "phase": current.phase if current.phase not in (None, "Degraded") else "Initializing",
        "message": None,
        "conditions": conditions,
    })
    return Decision(status=updated, events=events)


def _invalid_spec(
    current: ModelRolloutStatus, reason_text: str, generation: int, now: datetime
) -> Decision:
    conditions = set_condition(current.conditions, "Degraded", True, "InvalidSpec",
                               reason_text, generation, now)
    updated = current.model_copy(update={
        "observed_generation": generation, "phase": "Degraded",
        "message": reason_text[:4096], "conditions": conditions,
    })
    return Decision(status=updated, events=[Event("Warning", "InvalidSpec", reason_text[:1024])])
