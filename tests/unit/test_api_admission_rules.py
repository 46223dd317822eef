"""Issue 15's rules on the operator side (pydantic) and in the generated schema: what the API
server enforces at admission, the operator enforces on what it reads (an object written
before a CRD upgrade) and reports as InvalidSpec naming the field."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from controller.api.analysis import PrometheusSource
from controller.api.base import LABEL_KEY
from controller.api.crd import custom_resource_definition, spec_schema, status_schema
from controller.api.docs import DOCS_PATH, field_rows, render
from controller.api.schema import one_line
from controller.api.spec import ModelRolloutSpec
from controller.contract.jsonpath import PATH_PATTERN, parse_path
from controller.operator.kube import template_refusal
from controller.rollout.failures import describe_validation_error
from controller.rollout.pruned import LAST_APPLIED, pruned_fields
from tests.manifest_edits import valid_manifest

pytestmark = pytest.mark.unit


def spec_with(change: Any) -> dict[str, Any]:
    spec: dict[str, Any] = copy.deepcopy(valid_manifest()["spec"])
    change(spec)
    return spec


def refusal(spec: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        ModelRolloutSpec.model_validate(spec)
    return describe_validation_error(raised.value)


def _container(spec: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = spec["template"]["spec"]["containers"][0]
    return container


# --- every field explained --------------------------------------------------------------------


@pytest.mark.parametrize("root", ["spec", "status"])
def test_every_field_has_a_one_line_description(root: str) -> None:
    schema = spec_schema() if root == "spec" else status_schema()
    rows = field_rows(schema, root)
    assert len(rows) > 50
    missing = [path for path, sub in rows if not sub.get("description")]
    assert missing == [], "add description= to these fields: " + ", ".join(missing)
    broken = [path for path, sub in rows if "\n" in sub["description"]
              or "  " in sub["description"]]
    assert broken == []


def test_docs_api_md_is_in_sync_with_the_models() -> None:
    assert DOCS_PATH.read_text() == render(), "docs/api.md is stale: run `make crds`"


def test_docstrings_become_one_line_descriptions() -> None:
    assert one_line("Inject faults into a fraction\n    of the answers:  the step ") == (
        "Inject faults into a fraction of the answers: the step")


# --- the pod template -------------------------------------------------------------------------


def test_container_ports_keep_core_v1_fields() -> None:
    ports = spec_schema()["properties"]["template"]["properties"]["spec"]["properties"][
        "containers"]["items"]["properties"]["ports"]["items"]
    assert ports["x-kubernetes-preserve-unknown-fields"] is True
    spec = ModelRolloutSpec.model_validate(spec_with(lambda s: _container(s).update(
        ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}])))
    wire = spec.template.model_dump(by_alias=True, exclude_none=True)
    assert wire["spec"]["containers"][0]["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_containers_are_a_list_map_keyed_by_name() -> None:
    containers = spec_schema()["properties"]["template"]["properties"]["spec"]["properties"][
        "containers"]
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    twice = spec_with(lambda s: s["template"]["spec"]["containers"].append(
        {"name": "server", "image": "model:2"}))
    assert "spec.template.spec.containers" in refusal(twice)


@pytest.mark.parametrize("image", ["model:1\n", "model :1", "\tmodel:1", ""])
def test_an_image_with_whitespace_is_refused(image: str) -> None:
    assert "spec.template.spec.containers.0.image" in refusal(
        spec_with(lambda s: _container(s).update(image=image)))


@pytest.mark.parametrize("labels", [
    {"k" * 64: "v"}, {"example.com/" + "k" * 64: "v"}, {"bad key": "v"}, {"-x": "v"},
    {"app": "has spaces"}, {"app": "v" * 64}, {"app": "-leading"}, {"Example.com/x": "v"},
])
def test_labels_follow_the_kubernetes_syntax(labels: dict[str, str]) -> None:
    refused = refusal(spec_with(lambda s: s["template"].update(metadata={"labels": labels})))
    assert "spec.template.metadata.labels" in refused


@pytest.mark.parametrize("labels", [
    {"app": "model"}, {"app.kubernetes.io/name": "m-1.2_x"}, {"x": ""}, {"k" * 63: "v" * 63},
])
def test_valid_labels_are_accepted(labels: dict[str, str]) -> None:
    ModelRolloutSpec.model_validate(spec_with(lambda s: s["template"].update(
        metadata={"labels": labels, "annotations": {"example.com/note": "any text at all"}})))


def test_the_label_key_rule_is_the_same_in_cel_and_pydantic() -> None:
    labels = spec_schema()["properties"]["template"]["properties"]["metadata"]["properties"][
        "labels"]
    (cel,) = labels["x-kubernetes-validations"]
    assert LABEL_KEY in cel["rule"]


def test_metadata_name_is_a_dns_label_of_at_most_40() -> None:
    root = custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    name = root["properties"]["metadata"]["properties"]["name"]
    assert name["maxLength"] == 40
    pattern = re.compile(name["pattern"])
    assert pattern.match("model-a")
    assert [n for n in ("model.a", "Model", "-a", "a_b") if pattern.match(n)] == []


# --- runtime rules --------------------------------------------------------------------------


_PATHS = ["predictions[0].label", "$.outputs[0].data[0]", "label", "$.a", '["odd key"].x',
          "a.b-c_d[12]", "$", "", "a..b", "[x]", "a[0", "a b", ".", "a.0b", '["]', "a.b[]",
          "$a", "a[-1]"]


@pytest.mark.parametrize("path", _PATHS)
def test_the_prediction_path_pattern_is_the_router_grammar(path: str) -> None:
    try:
        parse_path(path)
        parses = True
    except ValueError:
        parses = False
    assert bool(re.fullmatch(PATH_PATTERN, path)) is parses


def test_an_unparseable_prediction_path_is_refused() -> None:
    refused = refusal(spec_with(lambda s: s.update(
        trafficRouting={"builtin": {"prediction": {"path": "predictions[0"}}})))
    assert "spec.trafficRouting.builtin.prediction.path" in refused


def test_a_unit_in_two_segments_is_refused_naming_the_field() -> None:
    segments = [{"name": "a", "variant": "stable", "units": ["u1", "u2"]},
                {"name": "b", "variant": "candidate", "units": ["u3", "u2"]}]
    refused = refusal(spec_with(lambda s: s.update(
        trafficRouting={"builtin": {"overrides": {"segments": segments}}})))
    assert "spec.trafficRouting.builtin.overrides" in refused
    assert "'u2' is listed in 'a' and 'b'" in refused


# --- Prometheus -------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["http://p:9090/\x00", "http://p:9090\r\nHost: x",
                                     "http://p:9090/\x7f", "http://p:9090/é", "ftp://p"])
def test_a_prometheus_address_with_control_characters_is_refused(address: str) -> None:
    with pytest.raises(ValidationError):
        PrometheusSource.model_validate({"address": address})


@pytest.mark.parametrize("fields", [
    {"address": "http://p:9090", "insecureSkipVerify": True},
    {"address": "https://p:9090", "insecureSkipVerify": True,
     "caBundle": {"configMapKeyRef": {"name": "ca", "key": "ca.crt"}}},
])
def test_tls_settings_need_https_and_exclude_each_other(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PrometheusSource.model_validate(fields)


# --- pruned fields ----------------------------------------------------------------------------


def _applied(change: Any) -> dict[str, str]:
    manifest = valid_manifest()
    change(manifest["spec"])
    return {LAST_APPLIED: json.dumps(manifest)}


def test_a_pruned_pause_duration_is_named() -> None:
    def argo_pause(spec: dict[str, Any]) -> None:
        spec["strategy"]["canary"]["steps"][0] = {"pause": {"duration": "10m"}}
    assert pruned_fields(_applied(argo_pause)) == ["spec.strategy.canary.steps[0].pause.duration"]


def test_nothing_is_reported_without_unknown_fields() -> None:
    def template_extras(spec: dict[str, Any]) -> None:
        _container(spec)["ports"] = [{"name": "http", "containerPort": 8080}]
    assert pruned_fields(_applied(template_extras)) == []
    assert pruned_fields({}) == []
    assert pruned_fields({LAST_APPLIED: "{not json"}) == []
    assert pruned_fields({LAST_APPLIED: "[1, 2]"}) == []


# --- the operator's dry-run -------------------------------------------------------------------


def _api_error(status: int, message: str) -> ApiException:
    error = ApiException(status=status, reason="Reason")
    error.body = json.dumps({"kind": "Status", "message": message})
    return error


@pytest.mark.parametrize(("status", "message", "refused"), [
    (422, 'Deployment.apps "x" is invalid: spec.template.spec.containers[0].imagePullPolicy: '
          'Unsupported value', True),
    (500, "failed to create typed patch object (d/x; apps/v1, Kind=Deployment): "
          ".spec.template.spec.containers[name=\"s\"].imagePullPolicyy: field not declared", True),
    (500, "failed to convert new object: unable to convert unstructured object to apps/v1", True),
    (500, "etcdserver: request timed out", False),
    (403, "deployments.apps is forbidden", False),
    (503, "the server is currently unable to handle the request", False),
])
def test_only_the_manifests_own_faults_are_template_refusals(
    status: int, message: str, refused: bool
) -> None:
    assert (template_refusal(_api_error(status, message)) == message) is refused
