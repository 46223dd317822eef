"""list, status, report and command delivery without acting, plus the error cases, against
the real control plane."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from controller.plugin.errors import ROLLOUTS
from controller.rollout.commands import COMMAND_ANNOTATION
from tests.cluster.build import ensure_binaries
from tests.helpers import eventually
from tests.integration.conftest import REPO, OperatorProcess
from tests.integration.plugin.conftest import Plugin, Result, write_kubeconfig
from tests.integration.rollouts import Rollouts
from tests.manifest_edits import valid_manifest

pytestmark = pytest.mark.integration


def test_list_and_status_before_the_operator_acts(plugin: Plugin, rollouts: Rollouts,
                                                  namespace: str) -> None:
    rollouts.create(valid_manifest("fresh"))
    listed = plugin("list")
    assert listed.code == 0
    assert listed.out.splitlines()[1].split()[:7] == ["fresh", "-", "-", "-", "-", "-", "-"]
    everywhere = plugin("list", "-A")
    assert any(line.split()[:2] == [namespace, "fresh"] for line in everywhere.out.splitlines())
    shown = plugin("status", "fresh")
    assert shown.code == 0
    assert f"ModelRollout {namespace}/fresh" in shown.out
    assert "has not reported a status yet" in shown.out


def test_list_of_an_empty_namespace(plugin: Plugin, namespace: str) -> None:
    assert plugin("list").out == f"No modelrollouts found in namespace {namespace}.\n"


def test_a_command_is_delivered_even_when_nobody_acts(plugin: Plugin,
                                                      rollouts: Rollouts) -> None:
    rollouts.create(valid_manifest("idle"))
    waited = plugin("pause", "idle", "--timeout", "0.5")
    assert waited.code == 0
    assert "the operator has not acted on it yet" in waited.out
    sent = plugin("resume", "idle", "--no-wait")
    assert sent.out.startswith("resume: sent resume@")
    annotations = rollouts.get("idle")["metadata"]["annotations"]
    assert annotations[COMMAND_ANNOTATION] == sent.out.split()[-1]


def test_status_and_report_of_a_healthy_rollout(plugin: Plugin, rollouts: Rollouts,
                                                operator: OperatorProcess,
                                                tmp_path: Path) -> None:
    rollouts.create(valid_manifest("served"))
    status = rollouts.wait_condition("served", "Healthy", "True")
    eventually(lambda: "Initialized" in rollouts.reasons("served"), "the Initialized Event")
    shown = plugin("status", "served")
    assert "Phase:      Healthy" in shown.out
    assert f"stable {status['stableRevision']}  candidate -" in shown.out
    assert "Initialized" in shown.out
    report = tmp_path / "served.html"
    written = plugin("report", "served", "-o", str(report))
    assert written.code == 0
    assert written.out.startswith(f"wrote {report}")
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert status["stableRevision"] in html
    assert "Initialized" in html.split('<ul class="timeline">')[1]


def test_missing_rollout(plugin: Plugin, namespace: str) -> None:
    for args in (["status", "nope"], ["promote", "nope"], ["report", "nope", "-o", "-"]):
        result = plugin(*args)
        assert (result.code, result.err) == (
            1, f"error: modelrollout nope not found in namespace {namespace}\n")
        assert result.out == ""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_unreachable_api(plugin: Plugin, tmp_path: Path, namespace: str) -> None:
    server = f"https://127.0.0.1:{closed_port()}"
    config = write_kubeconfig(tmp_path / "kubeconfig", server, "t", namespace)
    result = plugin("list", config=config)
    assert result.code == 1
    assert result.err == (f"error: cannot reach the Kubernetes API at {server}: connection "
                          f"refused (is the cluster running?)\n")


def test_missing_kubeconfig(plugin: Plugin, tmp_path: Path) -> None:
    result = plugin("list", config=tmp_path / "absent")
    assert result.code == 1
    assert result.err.startswith(f"error: no kubeconfig found at {tmp_path / 'absent'}")


def service_account_kubeconfig(api: client.ApiClient, namespace: str, path: Path) -> Path:
    """A real ServiceAccount token from the TokenRequest API: authenticated, and allowed
    nothing until a Role says otherwise."""
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="viewer")))
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    answer = core.create_namespaced_service_account_token("viewer", namespace, request)
    assert answer.status is not None
    assert answer.status.token
    return write_kubeconfig(path, api.configuration.host, answer.status.token, namespace)


def grant_read(api: client.ApiClient, namespace: str) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="mro-read"),
        rules=[client.V1PolicyRule(api_groups=["rollouts.mlops.dev"], resources=["modelrollouts"],
                                   verbs=["get", "list", "watch"])]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="mro-read"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                  name="mro-read"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="viewer",
                                       namespace=namespace)]))


def test_no_permission_names_the_verb_and_resource(
        plugin: Plugin, api: client.ApiClient, namespace: str, rollouts: Rollouts,
        tmp_path: Path) -> None:
    rollouts.create(valid_manifest("guarded"))
    config = service_account_kubeconfig(api, namespace, tmp_path / "viewer")
    user = f"system:serviceaccount:{namespace}:viewer"

    denied = plugin("status", "guarded", config=config)
    assert (denied.code, denied.err) == (1, (
        f"error: permission denied: {user} cannot get {ROLLOUTS} in namespace {namespace} "
        f"(RBAC needs verb 'get' on {ROLLOUTS})\n"))
    everywhere = plugin("list", "-A", config=config)
    assert f"cannot list {ROLLOUTS} across all namespaces" in everywhere.err

    grant_read(api, namespace)  # read the rollout, but neither Events nor patch
    def allowed() -> Result | None:
        result = plugin("status", "guarded", config=config)
        return result if result.code == 0 else None

    shown = eventually(allowed, "the Role to take effect")
    assert "Events: not readable with these credentials." in shown.out
    patch = plugin("pause", "guarded", config=config)
    assert patch.code == 1
    assert f"{user} cannot patch {ROLLOUTS} in namespace {namespace}" in patch.err


def test_kubectl_runs_it_as_a_plugin(kubeconfig: Path, namespace: str, rollouts: Rollouts,
                                     tmp_path: Path) -> None:
    """kubectl finds `kubectl-modelrollout` on PATH (here a shim for the console script the
    package installs) and hands it the arguments and KUBECONFIG."""
    rollouts.create(valid_manifest("viaplugin"))
    shim = tmp_path / "kubectl-modelrollout"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m controller.plugin "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
           "KUBECONFIG": str(kubeconfig), "PYTHONPATH": str(REPO)}
    result = subprocess.run([str(ensure_binaries() / "kubectl"), "modelrollout", "list", "-n",
                             namespace], env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[0] == "viaplugin"
