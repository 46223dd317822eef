"""Admitted means it can run (issue 15): a container copied from a Deployment is accepted under
strict validation and becomes a Deployment; what only the API server's own core/v1 validation,
or the operator, can see becomes a Degraded condition naming the field; fields a lax client
let the API server drop are named in a Warning Event."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from controller.api import GROUP, PLURAL, VERSION
from controller.operator.children import ROLLOUT_LABEL
from tests.cluster.build import ensure_binaries
from tests.full_pod import FULL_POD_SPEC
from tests.helpers import eventually
from tests.integration.conftest import OperatorProcess
from tests.manifest_edits import valid_manifest

pytestmark = pytest.mark.integration


def kubectl_apply(kubeconfig: Path, namespace: str, manifest: dict[str, Any],
                  validate: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ensure_binaries() / "kubectl"), f"--kubeconfig={kubeconfig}", "-n", namespace,
         "apply", f"--validate={validate}", "-f", "-"],
        input=yaml.safe_dump(manifest), capture_output=True, text=True, check=False)


def rollout(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    found = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name)
    assert isinstance(found, dict)
    return found


def degraded(api: client.ApiClient, namespace: str, name: str, reason: str
             ) -> dict[str, Any] | None:
    status = rollout(api, namespace, name).get("status") or {}
    for condition in status.get("conditions", []):
        if condition["type"] == "Degraded" and condition["reason"] == reason \
                and condition["status"] == "True":
            return dict(condition)
    return None


def deployments(api: client.ApiClient, namespace: str, name: str) -> list[client.V1Deployment]:
    return list(client.AppsV1Api(api).list_namespaced_deployment(
        namespace, label_selector=f"{ROLLOUT_LABEL}={name}").items)


def model_deployments(api: client.ApiClient, namespace: str, name: str
                      ) -> list[client.V1Deployment]:
    return [d for d in deployments(api, namespace, name)
            if d.metadata and d.metadata.name and not d.metadata.name.endswith("-router")]


def test_every_common_container_field_is_accepted_strictly_and_runs(
    api: client.ApiClient, namespace: str, kubeconfig: Path, operator: OperatorProcess
) -> None:
    manifest = valid_manifest("full")
    manifest["spec"]["template"] = {"metadata": {"labels": {"app.kubernetes.io/name": "full"}},
                                    "spec": copy.deepcopy(FULL_POD_SPEC)}
    applied = kubectl_apply(kubeconfig, namespace, manifest, "strict")
    assert applied.returncode == 0, applied.stderr
    assert "unknown field" not in applied.stderr
    stored = rollout(api, namespace, "full")["spec"]["template"]["spec"]
    assert stored["containers"][0]["ports"][0] == {"name": "http", "containerPort": 8080,
                                                   "protocol": "TCP"}

    found = eventually(lambda: model_deployments(api, namespace, "full"),
                       "the model's Deployment", timeout=90)
    deployment: dict[str, Any] = api.sanitize_for_serialization(found[0])  # type: ignore[no-untyped-call]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert [(p["name"], p["containerPort"], p["protocol"]) for p in container["ports"]] == [
        ("http", 8080, "TCP"), ("metrics", 9090, "TCP")]
    assert container["env"][1]["valueFrom"]["secretKeyRef"]["name"] == "model-secrets"
    assert container["readinessProbe"]["httpGet"]["port"] == "http"
    assert container["volumeMounts"][0]["mountPath"] == "/models"
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_a_template_the_api_server_refuses_is_invalid_template_and_stable_stays(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    objects = client.CustomObjectsApi(api)
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                            valid_manifest("refused"))
    stable_revision = eventually(
        lambda: (rollout(api, namespace, "refused").get("status") or {}).get("stableRevision"),
        "a stable revision", timeout=90)
    stable = model_deployments(api, namespace, "refused")
    stable_names = {d.metadata.name for d in stable if d.metadata}
    # Admitted (core/v1 fields pass through), but no Deployment may have it.
    template = copy.deepcopy(valid_manifest()["spec"]["template"])
    template["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes"
    objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "refused",
                                           {"spec": {"template": template}})
    condition = eventually(lambda: degraded(api, namespace, "refused", "InvalidTemplate"),
                           "Degraded InvalidTemplate", timeout=90)
    assert "spec.template" in condition["message"], condition
    assert "spec.template.spec.containers[0].imagePullPolicy: Unsupported value" in \
        condition["message"], condition
    assert condition["observedGeneration"] == 2
    assert {d.metadata.name for d in model_deployments(api, namespace, "refused")
            if d.metadata} == stable_names
    assert rollout(api, namespace, "refused")["status"]["stableRevision"] == stable_revision

    def reasons() -> list[str]:
        events = client.CoreV1Api(api).list_namespaced_event(
            namespace, field_selector="involvedObject.name=refused").items
        return [e.reason or "" for e in events]

    assert "InvalidTemplate" in eventually(
        lambda: [r for r in reasons() if r == "InvalidTemplate"], "an InvalidTemplate Event")


def test_a_unit_in_two_segments_is_reported_naming_the_field(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    manifest = valid_manifest("segments")
    manifest["spec"]["trafficRouting"] = {"builtin": {"unit": {"header": "x-user"}, "overrides": {
        "segments": [{"name": "beta", "variant": "candidate", "units": ["u1", "u2"]},
                     {"name": "staff", "variant": "stable", "units": ["u2"]}]}}}
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, manifest, field_validation="Strict")
    condition = eventually(lambda: degraded(api, namespace, "segments", "InvalidSpec"),
                           "Degraded InvalidSpec", timeout=90)
    assert "spec.trafficRouting.builtin.overrides" in condition["message"]
    assert "'u2' is listed in 'beta' and 'staff'" in condition["message"]
    assert model_deployments(api, namespace, "segments") == []


def test_a_field_a_lax_client_let_the_server_drop_is_named_in_a_warning(
    api: client.ApiClient, namespace: str, kubeconfig: Path, operator: OperatorProcess
) -> None:
    manifest = valid_manifest("argo-pause")
    manifest["spec"]["strategy"]["canary"]["steps"][0] = {"pause": {"duration": "10m"}}
    assert kubectl_apply(kubeconfig, namespace, manifest, "strict").returncode != 0
    applied = kubectl_apply(kubeconfig, namespace, manifest, "false")
    assert applied.returncode == 0, applied.stderr
    stored = rollout(api, namespace, "argo-pause")
    assert stored["spec"]["strategy"]["canary"]["steps"][0] == {"pause": {}}
    assert "duration" in json.loads(
        stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )["spec"]["strategy"]["canary"]["steps"][0]["pause"]

    def warnings() -> list[str]:
        events = client.CoreV1Api(api).list_namespaced_event(
            namespace, field_selector="involvedObject.name=argo-pause").items
        return [e.message or "" for e in events if e.reason == "PrunedFields"]

    (message,) = eventually(warnings, "a PrunedFields Warning", timeout=90)
    assert "spec.strategy.canary.steps[0].pause.duration" in message
