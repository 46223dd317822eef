"""What cannot be acted on becomes a condition, never a crash.

A spec the API server admitted but the operator cannot use (an object written before a CRD
upgrade, a field the models tightened) is reported with every field named; a traffic router
that cannot manage its route (missing HTTPRoute, no permission) is reported as it says.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from controller.api.status import ModelRolloutStatus
from controller.rollout.conditions import set_condition
from controller.rollout.model import Event, Observation


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
    return degraded_status(status, "InvalidSpec", describe_validation_error(error), generation,
                           now)


def degraded_status(status: dict[str, Any], reason: str, message: str, generation: int,
                    now: datetime) -> tuple[ModelRolloutStatus, Event]:
    """Phase Degraded with `reason` (InvalidSpec, InvalidTemplate): nothing else changes."""
    current = ModelRolloutStatus.model_validate(status or {})
    message = message[:4096]
    conditions = set_condition(current.conditions, "Degraded", True, reason, message,
                               generation, now)
    updated = current.model_copy(update={
        "observed_generation": generation, "phase": "Degraded", "message": message,
        "conditions": conditions,
    })
    return updated, Event("Warning", reason, message[:1024])


def routing_failed(observation: Observation, message: str) -> ModelRolloutStatus:
    """The observed status, unchanged but for a Degraded condition naming the routing problem."""
    current = observation.status
    conditions = set_condition(current.conditions, "Degraded", True, "TrafficRoutingFailed",
                               message[:4096], observation.generation, observation.now)
    return current.model_copy(update={"message": message[:4096], "conditions": conditions})
