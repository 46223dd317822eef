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
from tests.manifest_edits import valid_manifest

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


def test_readme_api_sample_parses() -> None:
    from tests.e2e.example_cases import readme_sample

    spec = ModelRolloutSpec.model_validate(readme_sample()["spec"])
    assert spec.strategy.canary is not None


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


# --- trafficRouting.builtin.resources -----------------------------------------------------------


def _router_resources(resources: Any) -> ModelRolloutSpec:
    spec = valid_manifest()["spec"]
    spec["trafficRouting"] = {"builtin": {"resources": resources}}
    return ModelRolloutSpec.model_validate(spec)


def test_router_resources_are_quantity_strings() -> None:
    builtin = _router_resources({"requests": {"cpu": "250m", "memory": "256Mi"},
                                 "limits": {"cpu": "1.5", "memory": "1Gi"}}).traffic_routing.builtin
    assert builtin is not None
    assert builtin.resources is not None
    assert builtin.resources.wire() == {
        "requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1.5", "memory": "1Gi"}}


@pytest.mark.parametrize(("resources", "field"), [
    ({"requests": {"cpu": 0.5}}, "requests.cpu"),
    ({"requests": {"cpu": "1.2345"}}, "requests.cpu"),
    ({"requests": {"memory": "1.5Gi"}}, "requests.memory"),
    ({"limits": {"memory": "2Pi"}}, "limits.memory"),
    ({"limits": {"gpu": "1"}}, "limits.gpu"),
    ({"requests": {"memory": "1Gi"}, "limits": {"memory": "1000Mi"}}, "requests.memory"),
    ({"requests": {"cpu": "2"}, "limits": {"cpu": "1999m"}}, "requests.cpu"),
], ids=["float", "four-decimals", "fractional-memory", "peta", "gpu", "memory-above-limit",
        "cpu-above-limit"])
def test_bad_router_resources_are_refused(resources: Any, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        _router_resources(resources)
    assert field in str(raised.value)


def test_router_resources_in_the_crd_hold_no_numbers_and_check_requests_against_limits() -> None:
    schema = spec_schema()["properties"]["trafficRouting"]["properties"]["builtin"][
        "properties"]["resources"]
    quantities = [node for path, node in walk(schema) if path.endswith((".cpu", ".memory"))]
    assert len(quantities) == 4
    assert all(q["type"] == "string" and q["pattern"] and q["maxLength"] for q in quantities)
    rules = " ".join(v["rule"] for v in schema["x-kubernetes-validations"])
    assert "quantity(self.requests.cpu).compareTo(quantity(self.limits.cpu)) <= 0" in rules
    assert "quantity(self.requests.memory)" in rules


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
