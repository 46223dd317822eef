"""The pydantic models are the single source of the CRD; the schema follows the API conventions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from controller.api.crd import CRD_PATH, custom_resource_definition, render, spec_schema
from controller.api.schema import JsonDict, walk
from controller.api.spec import ModelRolloutSpec
from controller.rollout.failures import describe_validation_error
from tests.invalid_manifests import valid_manifest

pytestmark = pytest.mark.unit

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def _open_subtrees(schema: JsonDict) -> list[str]:
    return [path for path, node in walk(schema)
            if node.get("x-kubernetes-preserve-unknown-fields")]


def _inside_open_subtree(path: str, open_paths: list[str]) -> bool:
    return any(path.startswith(prefix) and path != prefix for prefix in open_paths)


def test_committed_crd_is_in_sync_with_the_models() -> None:
    assert CRD_PATH.read_text() == render(), "crds/ is stale: run `make crds`"


def test_spec_has_no_floats() -> None:
    floats = [path for path, node in walk(spec_schema()) if node.get("type") == "number"]
    assert floats == []


def test_every_spec_number_string_and_list_is_bounded() -> None:
    schema = spec_schema()
    open_paths = _open_subtrees(schema)
    unbounded = []
    for path, node in walk(schema):
        if _inside_open_subtree(path, open_paths):
            continue  # the pod template's other fields: core/v1 bounds them, not us
        kind = node.get("type")
        bounded = {
            "integer": "minimum" in node and "maximum" in node,
            "string": "maxLength" in node or "enum" in node,
            "array": "maxItems" in node,
            "object": "additionalProperties" not in node or "maxProperties" in node,
        }.get(str(kind), True)
        if not bounded:
            unbounded.append(f"{path} ({kind})")
    assert unbounded == []


def test_optional_fields_are_absent_not_nullable() -> None:
    schema = custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert not [p for p, node in walk(schema) if "anyOf" in node or "$ref" in node
                or node.get("nullable")]


def test_printer_columns_cover_the_rollout_at_a_glance() -> None:
    version = custom_resource_definition()["spec"]["versions"][0]
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names == ["Phase", "Stable", "Candidate", "Weight", "Step", "Age"]
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_parse(path: Path) -> None:
    manifest: dict[str, Any] = yaml.safe_load(path.read_text())
    spec = ModelRolloutSpec.model_validate(manifest["spec"])
    assert spec.template.spec.containers


def test_defaults() -> None:
    spec = ModelRolloutSpec.model_validate(valid_manifest()["spec"])
    assert spec.traffic_routing.kind == "builtin"
    assert spec.progress_deadline_seconds == 600
    assert spec.strategy.canary is not None
    assert [s.kind for s in spec.strategy.canary.steps] == ["setWeight", "analysis"]
    assert spec.analysis is not None
    assert spec.analysis.significance_basis_points == 500


def test_validation_errors_name_the_field() -> None:
    spec = valid_manifest()["spec"]
    spec["strategy"]["canary"]["steps"][0]["setWeight"] = 150
    with pytest.raises(ValidationError) as raised:
        ModelRolloutSpec.model_validate(spec)
    message = describe_validation_error(raised.value)
    assert message.startswith("spec.strategy.canary.steps.0.setWeight:"), message


def test_revision_history_limit_bounds_status_history_up_to_its_maximum() -> None:
    schema = custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    limit = schema["properties"]["spec"]["properties"]["revisionHistoryLimit"]
    history = schema["properties"]["status"]["properties"]["history"]
    assert (limit["default"], limit["minimum"]) == (10, 1)
    assert limit["maximum"] == history["maxItems"] == 20, "the largest limit is a valid status"
    assert "status.history" in limit["description"]


def test_goal_is_for_success_metrics_only_and_checked_at_admission() -> None:
    spec = valid_manifest()["spec"]
    spec["analysis"]["metrics"].append({"name": "accuracy", "template": "feedbackAccuracy",
                                        "role": "Success", "goal": "Improve"})
    parsed = ModelRolloutSpec.model_validate(spec)
    assert parsed.analysis is not None
    assert [m.goal for m in parsed.analysis.metrics] == [None, "Improve"]  # None: NotWorse
    spec["analysis"]["metrics"][1]["goal"] = "Better"
    with pytest.raises(ValidationError):
        ModelRolloutSpec.model_validate(spec)
    metric = spec_schema()["properties"]["analysis"]["properties"]["metrics"]["items"]
    goal = metric["properties"]["goal"]
    assert goal["enum"] == ["NotWorse", "Improve"]
    assert "default" not in goal, "a default would put a goal on every guardrail"
    assert "Success" in goal["description"]
    rules = [r for r in metric["x-kubernetes-validations"] if r.get("fieldPath") == ".goal"]
    assert rules == [{"rule": "!has(self.goal) || (has(self.role) && self.role == 'Success')",
                      "message": "goal is only for role: Success", "fieldPath": ".goal"}]
