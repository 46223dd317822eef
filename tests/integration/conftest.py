"""Fixtures for tests against the real local control plane (built from source) and Prometheus.

Set MODELROLLOUT_KUBECONFIG to reuse a running cluster (e.g. `.cluster/kubeconfig` after
`make cluster-up`); otherwise the session starts its own control plane and stops it at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.cluster.controlplane import install_crds, start
from tests.cluster.metrics_endpoint import MetricsEndpoint
from tests.cluster.prometheus import Prometheus, start_prometheus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    reused = os.environ.get("MODELROLLOUT_KUBECONFIG")
    if reused:
        yield Path(reused)
        return
    plane = start(tmp_path_factory.mktemp("controlplane"))
    try:
        yield plane.kubeconfig
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def api(kubeconfig: Path) -> client.ApiClient:
    install_crds(kubeconfig, REPO / "crds")
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    assert isinstance(api_client, client.ApiClient)
    return api_client


# Pod Security admission (built into kube-apiserver) refuses every pod of these namespaces that
# is not "restricted": the operator's pods (models, shadows, routers) must pass it.
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest"}


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace per test, so tests never see each other's objects; Pod Security
    "restricted" is enforced in it."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name,
                                                                          labels=RESTRICTED)))
    try:
        yield name
    finally:
        core.delete_namespace(name)


@pytest.fixture(scope="session")
def metrics_endpoint() -> Iterator[MetricsEndpoint]:
    """A tiny per-variant metrics endpoint on loopback that tests can change while it runs."""
    endpoint = MetricsEndpoint()
    try:
        yield endpoint
    finally:
        endpoint.close()


@pytest.fixture(scope="session")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, metrics_endpoint: MetricsEndpoint
) -> Iterator[Prometheus]:
    instance = start_prometheus(tmp_path_factory.mktemp("prometheus"), [metrics_endpoint.target])
    try:
        yield instance
    finally:
        instance.stop()


class OperatorProcess:
    """`python -m controller` as a real process; restartable, and killable with SIGKILL."""

    def __init__(self, kubeconfig: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.kubeconfig, self.log = kubeconfig, log
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts} ---\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "controller", "--log-format=json"],
                env={**os.environ, **self.env, "KUBECONFIG": str(self.kubeconfig)}, stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last status write — the worst moment a crash can pick."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@pytest.fixture
def operator(kubeconfig: Path, api: client.ApiClient, tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kubeconfig, tmp_path / "operator.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()
