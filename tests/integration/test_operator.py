"""The operator as a real process against the real control plane."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from controller.api import GROUP, PLURAL, VERSION
from tests.cluster.processes import free_port
from tests.helpers import eventually
from tests.integration.conftest import OperatorProcess
from tests.manifest_edits import valid_manifest

pytestmark = pytest.mark.integration


def read(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    found = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    assert isinstance(found, dict)
    return found


def test_operator_sets_conditions_and_observed_generation(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    objects = client.CustomObjectsApi(api)
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                            valid_manifest("observed"))

    def healthy(generation: int) -> dict[str, Any] | None:
        status: dict[str, Any] = read(api, namespace, "observed").get("status", {})
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        ok = status.get("observedGeneration") == generation and conditions.get("Healthy")
        return status if ok == "True" else None

    status = eventually(lambda: healthy(1), "Healthy at generation 1", timeout=60)
    conditions = {c["type"]: c for c in status["conditions"]}
    # TrafficVerified too: the builtin router's replicas are looked for through the
    # rollout's Prometheus (none answers here, so it is Unknown, not a verdict).
    assert set(conditions) == {"Progressing", "Healthy", "Paused", "Degraded", "TrafficVerified"}
    assert conditions["TrafficVerified"]["status"] == "Unknown"
    assert conditions["Degraded"]["status"] == "False"
    assert conditions["Paused"]["status"] == "False"
    assert all(c["observedGeneration"] == 1 and c["lastTransitionTime"]
               for c in conditions.values())
    assert status["phase"] == "Healthy"
    assert status["traffic"] == {"stableWeight": 100, "candidateWeight": 0, "mirrors": []}

    objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "observed",
                                           {"spec": {"replicas": 3}})
    status = eventually(lambda: healthy(2), "Healthy at generation 2 after an edit",
                        timeout=60)
    assert {c["observedGeneration"] for c in status["conditions"]} == {2}
    deployment = client.AppsV1Api(api).read_namespaced_deployment(
        f"observed-{status['stableRevision']}", namespace)
    assert deployment.spec is not None
    assert deployment.spec.replicas == 3

    def reasons() -> list[str]:
        events = client.CoreV1Api(api).list_namespaced_event(
            namespace, field_selector="involvedObject.name=observed").items
        return [e.reason or "" for e in events]

    assert "Initialized" in eventually(reasons, "an Initialized Event", timeout=30)


def test_operator_uses_its_own_finalizer_and_no_kopf_marks(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, valid_manifest("annotated"))

    def finalizers() -> list[str] | None:
        body = read(api, namespace, "annotated")
        found: list[str] = body["metadata"].get("finalizers", [])
        return found if body.get("status", {}).get("observedGeneration") == 1 else None

    assert eventually(finalizers, "the first reconcile", timeout=60) == [f"{GROUP}/finalizer"]
    # A spec change must not make kopf store a diff-base annotation (a write racing ours).
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "annotated", {"spec": {"replicas": 2}})

    def reconciled_edit() -> dict[str, Any] | None:
        body = read(api, namespace, "annotated")
        return body if body.get("status", {}).get("observedGeneration") == 2 else None

    body = eventually(reconciled_edit, "the edit reconciled", timeout=60)
    annotations = body["metadata"].get("annotations", {})
    assert not any("kopf.zalando.org" in key for key in annotations), annotations
    assert not any(key.endswith("last-handled-configuration") for key in annotations), annotations


def test_operator_serves_its_metrics(
    api: client.ApiClient, namespace: str, kubeconfig: Path, tmp_path: Path
) -> None:
    port = free_port()
    operator = OperatorProcess(kubeconfig, tmp_path / "operator.log",
                               env={"MODELROLLOUT_METRICS_ADDRESS": f"127.0.0.1:{port}"})
    operator.start()
    try:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, valid_manifest("measured"))
        healthy = {"namespace": namespace, "rollout": "measured", "phase": "Healthy"}

        def scraped() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                            timeout=2) as response:
                    text: str = response.read().decode()
            except OSError:
                return None
            phases = [s for family in text_string_to_metric_families(text)
                      for s in family.samples if s.name == "modelrollout_rollout_phase"]
            return text if any(s.labels == healthy and s.value == 1 for s in phases) else None

        assert "# TYPE modelrollout_analysis_verdicts_total counter" in eventually(
            scraped, "the Healthy phase in the operator's metrics", timeout=60)
    finally:
        operator.stop()
