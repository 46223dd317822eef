"""A spec the API server admitted but the operator cannot use: a condition, never a crash.

CEL and the schema reject almost everything at admission; what is left (an object written
before a CRD upgrade, a field the models tightened) lands here with every field named.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from controller.api.status import ModelRolloutStatus
from controller.conditions import set_condition
from controller.rollout.model import Event


def describe_validation_error(error: ValidationError) -> str:
    """'spec.port: Input should be ...; ...' — every problem named by its field path."""
    problems = []
    for issue in error.errors():
        path = ".".join(str(part) for part in ("spec", *issue["loc"]))
        problems.append(f"{path}: {issue['msg']}")
    return "; ".join(problems)


def invalid_spec_status(
    status: dict[str, Any], error: ValidationError, generation: int, now: datetime
) -> tuple[ModelRolloutStatus, Event]:
    """Keep everything observed so far (traffic is not touched) and say what is wrong."""
    current = ModelRolloutStatus.model_validate(status or {})
    message = describe_validation_error(error)[:4096]
    conditions = set_condition(current.conditions, "Degraded", True, "InvalidSpec", message,
                               generation, now)
    updated = current.model_copy(update={
        "observed_generation": generation, "phase": "Degraded", "message": message,
        "conditions": conditions,
    })
    return updated, Event("Warning", "InvalidSpec", message[:1024])
