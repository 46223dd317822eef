"""The CRD against the real kube-apiserver: valid manifests in, invalid ones out by field."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.api import GROUP, PLURAL, VERSION
from tests.cluster.build import ensure_binaries
from tests.invalid_manifests import CASES, InvalidCase
from tests.manifest_edits import valid_manifest
from tests.valid_manifests import VALID_CASES, ValidCase

pytestmark = pytest.mark.integration

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def create(api: client.ApiClient, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    created = client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, manifest, field_validation="Strict"
    )
    assert isinstance(created, dict)
    return created


def test_crd_is_established_with_short_name(api: client.ApiClient) -> None:
    crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    assert crd.spec.names.short_names == ["mro"]
    assert crd.status is not None
    established = {c.type: c.status for c in crd.status.conditions or []}
    assert established.get("Established") == "True"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_accepted(api: client.ApiClient, namespace: str, path: Path) -> None:
    manifest = yaml.safe_load(path.read_text())
    created = create(api, namespace, manifest)
    assert created["metadata"]["uid"]
    assert created["spec"]["template"] == manifest["spec"]["template"]


@pytest.mark.parametrize("case", VALID_CASES, ids=lambda c: c.id)
def test_valid_counterpart_is_accepted(api: client.ApiClient, namespace: str,
                                       case: ValidCase) -> None:
    assert create(api, namespace, case.manifest())["metadata"]["uid"]


def test_printer_columns(api: client.ApiClient, namespace: str, kubeconfig: Path) -> None:
    create(api, namespace, valid_manifest("columns"))
    output = subprocess.run(
        [str(ensure_binaries() / "kubectl"), f"--kubeconfig={kubeconfig}", "get", "mro",
         "-n", namespace], capture_output=True, text=True, check=True,
    ).stdout
    header = output.splitlines()[0].split()
    assert header == ["NAME", "PHASE", "STABLE", "CANDIDATE", "WEIGHT", "STEP", "AGE"]
    assert output.splitlines()[1].startswith("columns ")


def test_defaults_are_applied_by_the_server(api: client.ApiClient, namespace: str) -> None:
    created = create(api, namespace, valid_manifest("defaults"))
    spec = created["spec"]
    assert spec["replicas"] == 1
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["trafficRouting"] == {"builtin": {"replicas": 1, "keepUnitsAcrossReleases": False}}
    assert spec["analysis"]["significanceBasisPoints"] == 500
    assert spec["analysis"]["onInconclusive"] == "Hold"
    assert spec["analysis"]["onMissingData"] == {
        "action": "Hold", "maxConsecutive": 4, "deadlineSeconds": 600}


def test_there_are_at_least_twenty_invalid_cases() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_invalid_manifest_is_rejected_naming_the_field(
    api: client.ApiClient, namespace: str, case: InvalidCase
) -> None:
    with pytest.raises(ApiException) as raised:
        create(api, namespace, case.manifest())
    assert raised.value.status in (400, 422), raised.value.body
    message = json.loads(raised.value.body or "{}")["message"]
    assert case.field in message, message
    assert case.words in message, message
