"""The operator as a real process against the real control plane."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controller.api import GROUP, PLURAL, VERSION
from tests.helpers import eventually
from tests.invalid_manifests import valid_manifest

pytestmark = pytest.mark.integration


@pytest.fixture
def operator(kubeconfig: Path, api: client.ApiClient, tmp_path: Path) -> Iterator[Path]:
    log = tmp_path / "operator.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "controller", "--log-format=json"],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)}, stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.returncode is not None


def read(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    found = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    assert isinstance(found, dict)
    return found


def test_operator_sets_conditions_and_observed_generation(
    api: client.ApiClient, namespace: str, operator: Path
) -> None:
    objects = client.CustomObjectsApi(api)
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                            valid_manifest("observed"))

    def observed(generation: int) -> dict[str, Any] | None:
        status: dict[str, Any] = read(api, namespace, "observed").get("status", {})
        return status if status.get("observedGeneration") == generation else None

    status = eventually(lambda: observed(1), "observedGeneration 1", timeout=60)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert set(conditions) == {"Progressing", "Healthy", "Paused", "Degraded"}
    assert conditions["Degraded"]["status"] == "False"
    assert conditions["Paused"]["status"] == "False"
    assert all(c["observedGeneration"] == 1 and c["lastTransitionTime"]
               for c in conditions.values())
    assert status["phase"] == "Initializing"

    objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "observed",
                                           {"spec": {"replicas": 3}})
    status = eventually(lambda: observed(2), "observedGeneration 2 after an edit", timeout=60)
    assert {c["observedGeneration"] for c in status["conditions"]} == {2}

    def observed_events() -> list[str]:
        events = client.CoreV1Api(api).list_namespaced_event(
            namespace, field_selector="involvedObject.name=observed").items
        return [e.message or "" for e in events if e.reason == "Observed"]

    messages = eventually(lambda: observed_events() if len(observed_events()) >= 2 else None,
                          "an Observed Event per generation", timeout=30)
    assert any(m.startswith("generation 2,") for m in messages)


def test_operator_uses_its_own_annotation_prefix(
    api: client.ApiClient, namespace: str, operator: Path
) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, valid_manifest("annotated"))

    def annotations() -> dict[str, str] | None:
        body = read(api, namespace, "annotated")
        found: dict[str, str] = body["metadata"].get("annotations", {})
        return found if body.get("status", {}).get("observedGeneration") == 1 else None

    found = eventually(annotations, "the first reconcile", timeout=60)
    assert any(key.startswith(f"{GROUP}/") for key in found), found
    assert not any("kopf.zalando.org" in key for key in found), found
