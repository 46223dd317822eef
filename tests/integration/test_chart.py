"""The Helm chart against the real control plane: its output passes a server-side dry run
(CRD, RBAC, Deployment, and the Prometheus Operator kinds against their published CRDs), and
the operator and a model router do their whole job with nothing but the chart's RBAC: a
namespaced install (watchNamespaces) holds Roles only, and the operator's pod passes Pod
Security "restricted"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.chart import EVERYTHING, documents, render
from tests.cluster.build import ensure_binaries
from tests.cluster.controlplane import install_crds
from tests.cluster.helm import ensure_helm
from tests.cluster.processes import free_port
from tests.helpers import eventually
from tests.integration.conftest import RESTRICTED
from tests.integration.pod_security import admitted_pods
from tests.integration.rollouts import Rollouts, canary, manifest

pytestmark = pytest.mark.integration

# The newest prometheus-operator module the Go module proxy serves; its example/ folder holds
# the ServiceMonitor and PrometheusRule CRDs (fetched at test time, never committed).
PROMETHEUS_OPERATOR = ("github.com/prometheus-operator/prometheus-operator", "v0.85.0")
MONITORING_CRDS = ("monitoring.coreos.com_servicemonitors.yaml",
                   "monitoring.coreos.com_prometheusrules.yaml")
FIELD_MANAGER = "--field-manager=modelrollout-chart-tests"


@pytest.fixture(scope="session")
def helm() -> Path:
    return ensure_helm()


@pytest.fixture(scope="session")
def kubectl() -> Path:
    return ensure_binaries() / "kubectl"


def go_module_dir(module: str, version: str, workdir: Path) -> Path:
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    result = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                            cwd=workdir, env=env, capture_output=True, text=True, check=False)
    info = json.loads(result.stdout or "{}")
    message = f"go mod download {module}@{version}: {info.get('Error') or result.stderr}"
    assert result.returncode == 0, message
    assert "Dir" in info, message
    return Path(info["Dir"])


@pytest.fixture(scope="session")
def monitoring_crds(api: client.ApiClient, kubeconfig: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("monitoring-crds")
    source = go_module_dir(*PROMETHEUS_OPERATOR, workdir) / "example" / "prometheus-operator-crd"
    crds = workdir / "crds"
    crds.mkdir()
    for name in MONITORING_CRDS:
        (crds / name).write_text((source / name).read_text())
    install_crds(kubeconfig, crds)


def run_kubectl(kubectl: Path, kubeconfig: Path, *args: str,
                stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", *args], input=stdin,
                          capture_output=True, text=True, check=False, timeout=120)


def dry_run(kubectl: Path, kubeconfig: Path, text: str) -> list[str]:
    result = run_kubectl(kubectl, kubeconfig, "apply", "--server-side", "--dry-run=server",
                         FIELD_MANAGER, "-f", "-", stdin=text)
    assert result.returncode == 0, f"server-side dry run refused the chart:\n{result.stderr}"
    return result.stdout.splitlines()


def in_namespace(namespace: str) -> dict[str, Any]:
    return {**EVERYTHING, "watchNamespaces": [namespace]}


def test_defaults_pass_a_server_side_dry_run(api: client.ApiClient, kubeconfig: Path,
                                             namespace: str, helm: Path,
                                             kubectl: Path) -> None:
    text = render(helm, {}, namespace=namespace, include_crds=True)
    applied = dry_run(kubectl, kubeconfig, text)
    # the CRD, ServiceAccount, ClusterRole and its binding, Deployment and metrics Service
    assert len(applied) == len(documents(text)) == 6
    assert all(line.endswith("serverside-applied (server dry run)") for line in applied)
    assert any("customresourcedefinition" in line for line in applied)


def test_every_optional_part_passes_a_server_side_dry_run(
        api: client.ApiClient, kubeconfig: Path, namespace: str, helm: Path, kubectl: Path,
        monitoring_crds: None) -> None:
    text = render(helm, in_namespace(namespace), namespace=namespace, include_crds=True)
    applied = dry_run(kubectl, kubeconfig, text)
    kinds = {line.split("/")[0].split(".")[0] for line in applied}
    assert kinds >= {"servicemonitor", "prometheusrule", "configmap", "role", "rolebinding",
                     "deployment", "serviceaccount", "customresourcedefinition"}
    assert not kinds & {"clusterrole", "clusterrolebinding"}


# --- the operator and a router under the chart's RBAC only ------------------------------------


def service_account_kubeconfig(kubectl: Path, admin: Path, namespace: str, account: str,
                               path: Path) -> Path:
    """A kubeconfig that authenticates as `namespace/account` with a bound token."""
    result = run_kubectl(kubectl, admin, "-n", namespace, "create", "token", account,
                         "--duration=1h")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(admin.read_text())
    config["users"] = [{"name": account, "user": {"token": result.stdout.strip()}}]
    for context in config["contexts"]:
        context["context"]["user"] = account
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def installed(api: client.ApiClient, kubeconfig: Path, namespace: str, helm: Path,
              kubectl: Path) -> Iterator[tuple[str, str]]:
    """The chart applied for real (without its CRD, already installed) into its own release
    namespace, watching `namespace` only: Roles and RoleBindings, nothing cluster-wide. Its
    operator Deployment runs one (kwok) pod in the restricted release namespace. Yields the
    release namespace and the operator's ServiceAccount."""
    release, system = f"r{namespace[2:]}", f"{namespace}-sys"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=system, labels=RESTRICTED)))
    text = render(helm, {"watchNamespaces": [namespace]}, release=release, namespace=system)
    try:
        result = run_kubectl(kubectl, kubeconfig, "apply", "--server-side", FIELD_MANAGER,
                             "-f", "-", stdin=text)
        assert result.returncode == 0, result.stderr
        yield system, f"{release}-modelrollout"
    finally:
        run_kubectl(kubectl, kubeconfig, "delete", "--ignore-not-found", "--wait=false",
                    "-f", "-", stdin=text)
        core.delete_namespace(system)


class Process:
    def __init__(self, args: list[str], kubeconfig: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, *args], env={**os.environ, "KUBECONFIG": str(kubeconfig)},
                stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> str:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        return self.log.read_text()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stable_replicas(api: client.ApiClient, namespace: str, name: str, revision: str) -> int:
    deployment = client.AppsV1Api(api).read_namespaced_deployment(f"{name}-{revision}",
                                                                  namespace)
    assert deployment.spec is not None
    return int(deployment.spec.replicas or 0)


def gone(rollouts: Rollouts, name: str) -> bool:
    try:
        rollouts.get(name)
    except ApiException as error:
        return bool(error.status == 404)
    return False


FORBIDDEN_MARKS = ("forbidden", " 403", "not enough permissions")


def test_operator_and_router_need_nothing_beyond_the_chart_rbac(
        api: client.ApiClient, kubeconfig: Path, namespace: str, kubectl: Path,
        installed: tuple[str, str], tmp_path: Path) -> None:
    """A namespaced install: the operator holds Roles in the watched namespace only, and
    still creates each router's ServiceAccount, Role and RoleBinding (it holds what it
    grants); the router follows its table as that per-rollout account."""
    system, account = installed
    admitted_pods(api, system, account)  # the operator's own pod passes "restricted"
    operator_config = service_account_kubeconfig(kubectl, kubeconfig, system, account,
                                                 tmp_path / "operator.kubeconfig")

    def can_i(*args: str) -> str:
        return run_kubectl(kubectl, operator_config, "auth", "can-i", *args).stdout.strip()

    assert can_i("get", "secrets", "-n", namespace) == "no"
    assert can_i("list", "modelrollouts.rollouts.mlops.dev", "-n", namespace) == "yes"
    assert can_i("list", "modelrollouts.rollouts.mlops.dev", "-A") == "no"
    assert can_i("create", "deployments", "-n", system) == "no"  # the release namespace
    for cluster_wide in ("namespaces", "customresourcedefinitions.apiextensions.k8s.io",
                         "clusterroles.rbac.authorization.k8s.io"):
        assert can_i("list", cluster_wide) == "no", cluster_wide
    operator = Process(["-m", "controller", "--log-format=json", f"--namespace={namespace}"],
                       operator_config, tmp_path / "operator.log")
    router: Process | None = None
    try:
        rollouts = Rollouts(api, namespace)
        rollouts.create(manifest("web", "model:1", canary({"setWeight": 50}, {"pause": {}})))
        stable = rollouts.wait_condition("web", "Healthy", "True", timeout=90)["stableRevision"]

        # The model router, as its own ServiceAccount, follows the operator's table.
        router_config = service_account_kubeconfig(kubectl, kubeconfig, namespace,
                                                   "web-router", tmp_path / "router.kubeconfig")
        admin = f"http://127.0.0.1:{free_port()}"
        router = Process(["-m", "controller.router", "--listen", f"127.0.0.1:{free_port()}",
                          "--admin", admin.removeprefix("http://"),
                          "--table-configmap", f"{namespace}/web-routing"],
                         router_config, tmp_path / "router.log")
        eventually(lambda: http_ok(f"{admin}/readyz"), "the router to load its table", 60)

        rollouts.set_image("web", "model:2")
        rollouts.wait_condition("web", "Paused", "True", reason="WaitingForPromotion",
                                timeout=90)
        # The stable's template is no longer in spec: it is scaled through deployments/scale.
        rollouts.patch("web", {"spec": {"replicas": 2}})
        eventually(lambda: stable_replicas(api, namespace, "web", stable) == 2,
                   "the old stable scaled to 2 replicas", 90)
        rollouts.command("web", "promote-full@1")
        status = rollouts.wait_status("web", "the candidate promoted", lambda s: (
            s.get("stableRevision") not in (None, stable)
            and any(c["type"] == "Healthy" and c["status"] == "True"
                    for c in s.get("conditions", []))), timeout=90)
        assert status["history"][-1]["outcome"] == "Promoted"
        assert rollouts.reasons("web"), "the operator posted no Events"

        admitted_pods(api, namespace, "web-router")

        rollouts.delete("web")
        eventually(lambda: gone(rollouts, "web"), "the finalizer released", 90)
    finally:
        logs = operator.stop() + (router.stop() if router is not None else "")
    refused = [line for line in logs.splitlines()
               if any(mark in line.lower() for mark in FORBIDDEN_MARKS)]
    assert not refused, "denied by the chart's RBAC:\n" + "\n".join(refused[:10])
