"""The router's RBAC against the real API server: each rollout's router runs as its own
ServiceAccount `<name>-router`, whose Role lets it list and watch its table ConfigMap and
nothing else. A real router process, authenticated with a token of that account from the
TokenRequest API, follows the table; the same token cannot list or read other ConfigMaps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.cluster.processes import free_port
from tests.helpers import eventually
from tests.integration.conftest import OperatorProcess
from tests.integration.rollouts import Rollouts, canary, manifest

pytestmark = pytest.mark.integration


def token_kubeconfig(api: client.ApiClient, admin: Path, namespace: str, account: str,
                     path: Path) -> Path:
    """A kubeconfig that authenticates as `namespace/account` with a bound token from the
    TokenRequest API (what the kubelet mounts into the router's pods)."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    issued = client.CoreV1Api(api).create_namespaced_service_account_token(
        account, namespace, request).status
    assert issued is not None
    token = issued.token
    kubeconfig = yaml.safe_load(admin.read_text())
    kubeconfig["users"] = [{"name": account, "user": {"token": token}}]
    for context in kubeconfig["contexts"]:
        context["context"]["user"] = account
    path.write_text(yaml.safe_dump(kubeconfig))
    return path


def status_of(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiException as error:
        return int(error.status)
    return 200


ADMIN_TOKEN = "router-access-admin-token-" + "z" * 20


def get_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


@pytest.fixture
def router_process(tmp_path: Path) -> Iterator[Callable[[Path, str], str]]:
    """Start `python -m controller.router` with a kubeconfig; returns its admin URL."""
    started: list[subprocess.Popen[bytes]] = []

    def start(kubeconfig: Path, table: str) -> str:
        admin = f"127.0.0.1:{free_port()}"
        (tmp_path / "admin-token").write_text(ADMIN_TOKEN)
        with (tmp_path / "router.log").open("ab") as log:
            started.append(subprocess.Popen(
                [sys.executable, "-m", "controller.router", "--listen",
                 f"127.0.0.1:{free_port()}", "--admin", admin, "--table-configmap", table,
                 "--admin-token-file", str(tmp_path / "admin-token")],
                env={**os.environ, "KUBECONFIG": str(kubeconfig)}, stdout=log,
                stderr=subprocess.STDOUT))
        return f"http://{admin}"

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_router_account_follows_its_table_and_reads_nothing_else(
        api: client.ApiClient, kubeconfig: Path, namespace: str, operator: OperatorProcess,
        router_process: Callable[[Path, str], str], tmp_path: Path) -> None:
    rollouts = Rollouts(api, namespace)
    rollouts.create(manifest("web", "model:1", canary({"setWeight": 30}, {"pause": {}})))
    rollouts.wait_condition("web", "Healthy", "True", timeout=90)
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="someone-elses"), data={"secret-ish": "x"}))

    deployment = client.AppsV1Api(api).read_namespaced_deployment("web-router", namespace)
    assert deployment.spec is not None
    assert deployment.spec.template.spec is not None
    assert deployment.spec.template.spec.service_account_name == "web-router"
    router_config = token_kubeconfig(api, kubeconfig, namespace, "web-router",
                                     tmp_path / "router.kubeconfig")

    # The real router, as web-router, loads the table and follows a change to it.
    admin = router_process(router_config, f"{namespace}/web-routing")
    eventually(lambda: (get_json(f"{admin}/readyz") or {}).get("ready"),
               "the router to load its table with its own token", 60)
    rollouts.set_image("web", "model:2")
    rollouts.wait_condition("web", "Paused", "True", reason="WaitingForPromotion", timeout=90)
    table = eventually(lambda: (lambda t: t if t and t.get("candidate") else None)(
        get_json(f"{admin}/table")), "the router to see the candidate's table", 60)
    assert table["candidate"]["weightBp"] == 3000

    # The same token: its ConfigMap by name (list and watch only), nothing else.
    as_router = client.CoreV1Api(config.new_client_from_config(config_file=str(router_config)))
    own = "metadata.name=web-routing"
    assert status_of(lambda: as_router.list_namespaced_config_map(
        namespace, field_selector=own)) == 200
    events = list(watch.Watch().stream(as_router.list_namespaced_config_map, namespace,
                                       field_selector=own, timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "web-routing")]
    assert status_of(lambda: as_router.list_namespaced_config_map(namespace)) == 403
    assert status_of(lambda: as_router.list_namespaced_config_map(
        namespace, field_selector="metadata.name=someone-elses")) == 403
    assert status_of(lambda: as_router.read_namespaced_config_map(
        "someone-elses", namespace)) == 403
    assert status_of(lambda: as_router.read_namespaced_config_map(
        "web-routing", namespace)) == 403  # the router never GETs it
    assert status_of(lambda: as_router.list_config_map_for_all_namespaces()) == 403
    assert status_of(lambda: as_router.patch_namespaced_config_map(
        "web-routing", namespace, {"data": {"table.json": "{}"}})) == 403
    assert status_of(lambda: as_router.list_namespaced_secret(namespace)) == 403


def test_the_router_account_goes_with_its_rollout(
        api: client.ApiClient, namespace: str, operator: OperatorProcess) -> None:
    rollouts = Rollouts(api, namespace)
    rollouts.create(manifest("gone", "model:1", canary({"setWeight": 30})))
    rollouts.wait_condition("gone", "Healthy", "True", timeout=90)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    reads = (lambda: core.read_namespaced_service_account("gone-router", namespace),
             lambda: rbac.read_namespaced_role("gone-router", namespace),
             lambda: rbac.read_namespaced_role_binding("gone-router", namespace))
    for read in reads:
        meta = read().metadata
        assert meta is not None
        assert [(o.kind, o.name, o.controller) for o in meta.owner_references or ()] == [
            ("ModelRollout", "gone", True)]
    rollouts.delete("gone")
    eventually(lambda: all(status_of(read) == 404 for read in reads),
               "the garbage collector to delete the router's account, Role and RoleBinding", 90)
