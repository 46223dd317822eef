"""Pure helpers around the state machine: invalid specs, conditions, revisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from controller.api.spec import ModelRolloutSpec
from controller.rollout.conditions import set_condition
from controller.rollout.failures import invalid_spec_status
from controller.rollout.revision import template_revision
from tests.manifest_edits import valid_manifest

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def test_invalid_spec_is_a_condition_and_an_event_not_a_crash() -> None:
    spec = valid_manifest()["spec"]
    spec["port"] = "eighty"
    with pytest.raises(ValidationError) as raised:
        ModelRolloutSpec.model_validate(spec)
    previous = {"stableRevision": "abc", "traffic": {"stableWeight": 100, "candidateWeight": 0}}
    status, event = invalid_spec_status(previous, raised.value, 3, NOW)
    wire: dict[str, Any] = status.model_dump(by_alias=True, exclude_none=True)
    degraded = next(c for c in wire["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "InvalidSpec")
    assert "spec.port" in degraded["message"]
    assert (wire["phase"], wire["observedGeneration"]) == ("Degraded", 3)
    assert wire["stableRevision"] == "abc"  # what was observed is kept
    assert event.type == "Warning"


def test_condition_transition_time_moves_only_on_status_change() -> None:
    later = NOW + timedelta(hours=1)
    conditions = set_condition([], "Paused", False, "Running", "", 1, NOW)
    same = set_condition(conditions, "Paused", False, "StillRunning", "", 2, later)
    flipped = set_condition(same, "Paused", True, "PausedByUser", "", 2, later)
    assert same[0].last_transition_time == "2026-11-29T12:00:00Z"
    assert same[0].reason == "StillRunning"
    assert flipped[0].last_transition_time == "2026-11-29T13:00:00Z"


def test_revision_is_deterministic_and_sensitive_to_the_template() -> None:
    template = valid_manifest()["spec"]["template"]
    reordered = {"spec": template["spec"]}
    changed = {"spec": {"containers": [{"name": "server", "image": "model:2"}]}}
    assert template_revision(template) == template_revision(reordered)
    assert template_revision(template) != template_revision(changed)
    assert len(template_revision(template)) == 10
