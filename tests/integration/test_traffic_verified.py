"""The operator checks which table each router replica really serves (its
modelrouter_table_info, through the rollout's Prometheus) and writes the table again when a
replica drifted: real router processes, a real Prometheus and the operator as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.cluster.processes import free_port
from tests.cluster.prometheus import start_prometheus
from tests.integration.conftest import OperatorProcess
from tests.integration.rollouts import Rollouts, canary, manifest

pytestmark = pytest.mark.integration


class RouterProcess:
    def __init__(self, admin: int, tmp_path: Path, kubeconfig: Path) -> None:
        self.admin, self.tmp_path, self.kubeconfig = admin, tmp_path, kubeconfig
        (tmp_path / "token").write_text("v" * 40)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *source: str) -> None:
        with (self.tmp_path / "router.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "controller.router", "--listen",
                 f"127.0.0.1:{free_port()}", "--admin", f"127.0.0.1:{self.admin}",
                 "--admin-token-file", str(self.tmp_path / "token"), *source],
                env={**os.environ, "KUBECONFIG": str(self.kubeconfig)}, stdout=log,
                stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


@pytest.fixture
def router(kubeconfig: Path, tmp_path: Path) -> Iterator[RouterProcess]:
    process = RouterProcess(free_port(), tmp_path, kubeconfig)
    try:
        yield process
    finally:
        process.stop()


def verified_message(status: dict[str, Any]) -> str:
    found = [c for c in status["conditions"] if c["type"] == "TrafficVerified"]
    message: str = found[0]["message"]
    return message


def table_version(api: client.ApiClient, namespace: str) -> int:
    found = client.CoreV1Api(api).read_namespaced_config_map("checked-routing", namespace)
    data: dict[str, str] = found.data or {}
    version: int = json.loads(data["table.json"])["version"]
    return version


def test_a_drifted_replica_is_reported_and_gets_the_table_again(
        api: client.ApiClient, namespace: str, kubeconfig: Path, tmp_path: Path,
        router: RouterProcess) -> None:
    router.start("--table-configmap", f"{namespace}/checked-routing")
    prometheus = start_prometheus(tmp_path / "prometheus", [f"127.0.0.1:{router.admin}"])
    operator = OperatorProcess(kubeconfig, tmp_path / "operator.log", env={
        "MODELROLLOUT_PROMETHEUS_SCOPE": 'job="targets"',
        "MODELROLLOUT_ROUTER_VERIFY_INTERVAL_SECONDS": "1",
        "MODELROLLOUT_ROUTER_CATCH_UP_SECONDS": "5"})
    operator.start()
    try:
        rollouts = Rollouts(api, namespace)
        analysis: dict[str, Any] = {"prometheus": {"address": prometheus.url},
                                    "metrics": [{"name": "errors", "template": "errorRate"}]}
        rollouts.create(manifest("checked", "model:1", canary({"setWeight": 10}),
                                 analysis=analysis))
        status = rollouts.wait_condition("checked", "TrafficVerified", "True", timeout=120,
                                         reason="RoutersServeTable")
        assert "1/1 router replicas serve the table" in verified_message(status)
        written = table_version(api, namespace)

        # The replica now serves a table of its own: not the one the operator wrote.
        router.stop()
        stray = tmp_path / "stray.json"
        stray.write_text(json.dumps({"version": 99, "salt": "x",
                                     "stable": {"backends": ["127.0.0.1:9"]}}))
        router.start("--table-file", str(stray))
        status = rollouts.wait_condition("checked", "TrafficVerified", "False", timeout=120,
                                         reason="RouterTableDrift")
        assert "version 99" in verified_message(status)
        assert table_version(api, namespace) > written  # written again, as a new version
        assert "RouterTableDrift" in rollouts.reasons("checked")
    finally:
        operator.stop()
        prometheus.stop()
