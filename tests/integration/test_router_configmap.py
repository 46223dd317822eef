"""The model router takes its routing table from the ConfigMap the operator writes, through the
real API server's watch, keeps the last good table when a bad one arrives, and takes no table
from anyone else: a client cannot push a version that would make the operator's stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.cluster.processes import free_port
from tests.helpers import eventually

pytestmark = pytest.mark.integration


def table(version: int, weight_bp: int) -> dict[str, Any]:
    return {"version": version, "salt": "t", "stable": {"backends": ["127.0.0.1:9"]},
            "candidate": {"backends": ["127.0.0.1:10"], "weightBp": weight_bp}}


TOKEN = "t" * 40
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def router(kubeconfig: Path, namespace: str, tmp_path: Path) -> Iterator[str]:
    admin = free_port()
    log = (tmp_path / "router.log").open("w")
    (tmp_path / "token").write_text(TOKEN)
    process = subprocess.Popen(
        [sys.executable, "-m", "controller.router", "--listen", f"127.0.0.1:{free_port()}",
         "--admin", f"127.0.0.1:{admin}", "--table-configmap", f"{namespace}/web-routing",
         "--admin-token-file", str(tmp_path / "token")],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)}, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{admin}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def applied_version(admin: str) -> int | None:
    try:
        request = urllib.request.Request(f"{admin}/table", headers=AUTHORIZED)
        with urllib.request.urlopen(request, timeout=2) as response:
            version: int = json.load(response)["version"]
            return version
    except OSError:
        return None


def rejected(admin: str) -> float:
    with urllib.request.urlopen(f"{admin}/metrics", timeout=2) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("modelrouter_table_rejected_total"))


def test_router_follows_the_configmap(api: client.ApiClient, namespace: str,
                                      router: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="web-routing"),
        data={"table.json": json.dumps(table(1, 1000))}))
    eventually(lambda: applied_version(router) == 1, "table version 1 applied", timeout=30)

    core.patch_namespaced_config_map("web-routing", namespace,
                                     {"data": {"table.json": json.dumps(table(2, 5000))}})
    eventually(lambda: applied_version(router) == 2, "table version 2 applied", timeout=30)

    bad = table(3, 5000)
    bad["candidate"]["weightBp"] = 12.5  # a float: the router must refuse it
    core.patch_namespaced_config_map("web-routing", namespace,
                                     {"data": {"table.json": json.dumps(bad)}})
    eventually(lambda: rejected(router) >= 1, "the bad table counted as rejected", timeout=30)
    assert applied_version(router) == 2, "the last good table stays in force"

    # The rollout deleted and applied again: its new ConfigMap numbers tables from 1.
    core.delete_namespaced_config_map("web-routing", namespace)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="web-routing"),
        data={"table.json": json.dumps(table(1, 0))}))
    eventually(lambda: applied_version(router) == 1, "the recreated ConfigMap's table",
               timeout=30)


def put_table(admin: str, document: dict[str, Any]) -> int:
    request = urllib.request.Request(f"{admin}/table", method="PUT", headers=AUTHORIZED,
                                     data=json.dumps(document).encode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_no_client_can_force_a_table_version(api: client.ApiClient, namespace: str,
                                             router: str) -> None:
    """The probe that rewrote a router's table with version 10^15, so that the operator's
    real table (version 2) was refused as stale: even with the admin token it is refused."""
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="web-routing"),
        data={"table.json": json.dumps(table(1, 1000))}))
    eventually(lambda: applied_version(router) == 1, "table version 1 applied", timeout=30)
    assert put_table(router, table(10**15, 10_000)) == 403
    assert applied_version(router) == 1
    core.patch_namespaced_config_map("web-routing", namespace,
                                     {"data": {"table.json": json.dumps(table(2, 5000))}})
    eventually(lambda: applied_version(router) == 2, "the operator's next table applied",
               timeout=30)
