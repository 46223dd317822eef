"""The operator skeleton's pure core: conditions, observedGeneration, Events, revisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.conditions import set_condition
from controller.revision import template_revision
from controller.rollout.reconcile import reconcile
from tests.invalid_manifests import valid_manifest

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def wire(status: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = status.model_dump(by_alias=True, exclude_none=True)
    return dumped


def test_first_reconcile_sets_every_condition_and_generation() -> None:
    decision = reconcile(valid_manifest()["spec"], {}, 1, NOW)
    status = wire(decision.status)
    assert status["observedGeneration"] == 1
    assert status["phase"] == "Initializing"
    by_type = {c["type"]: c for c in status["conditions"]}
    assert {t: c["status"] for t, c in by_type.items()} == {
        "Progressing": "Unknown", "Healthy": "Unknown", "Paused": "False", "Degraded": "False"}
    assert all(c["lastTransitionTime"] == "2026-11-29T12:00:00Z" for c in by_type.values())
    assert [e.reason for e in decision.events] == ["Observed"]


def test_same_generation_is_idempotent() -> None:
    first = reconcile(valid_manifest()["spec"], {}, 1, NOW)
    again = reconcile(valid_manifest()["spec"], wire(first.status), 1, NOW + timedelta(minutes=5))
    assert wire(again.status) == wire(first.status)
    assert again.events == []


def test_new_generation_keeps_transition_times_and_bumps_observed_generation() -> None:
    first = reconcile(valid_manifest()["spec"], {}, 1, NOW)
    later = NOW + timedelta(minutes=5)
    second = reconcile(valid_manifest()["spec"], wire(first.status), 2, later)
    conditions = wire(second.status)["conditions"]
    assert {c["observedGeneration"] for c in conditions} == {2}
    assert {c["lastTransitionTime"] for c in conditions} == {"2026-11-29T12:00:00Z"}
    assert second.events[0].message.startswith("generation 2, template revision ")


def test_invalid_spec_is_a_condition_and_an_event_not_a_crash() -> None:
    spec = valid_manifest()["spec"]
    spec["port"] = "eighty"
    decision = reconcile(spec, {}, 3, NOW)
    status = wire(decision.status)
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "InvalidSpec")
    assert "spec.port" in degraded["message"]
    assert status["phase"] == "Degraded"
    assert decision.events[0].type == "Warning"


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
