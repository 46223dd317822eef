"""What the operator creates so that no client reaches a router's admin port: the client
Service publishes only the serving port, the admin port has a Service of its own, a
NetworkPolicy admits only the configured peers to it, and its token is a Secret made once."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from kubernetes import client

from controller.operator.settings import DEFAULT_ADMIN_PEERS
from controller.traffic.builtin_children import ADMIN_PORT, ROUTER_PORT
from tests.integration.conftest import OperatorProcess
from tests.integration.rollouts import Rollouts, canary, manifest

pytestmark = pytest.mark.integration


def test_the_admin_port_is_off_the_client_path(api: client.ApiClient, namespace: str,
                                               operator: OperatorProcess) -> None:
    rollouts = Rollouts(api, namespace)
    rollouts.create(manifest("guarded", "model:1", canary({"setWeight": 10})))
    rollouts.wait_condition("guarded", "Healthy", "True")
    core, net = client.CoreV1Api(api), client.NetworkingV1Api(api)

    untyped: Any = api  # the client's serialiser carries no annotations

    def read(call: Any, name: str) -> Any:
        """The object as the API serves it (camelCase JSON)."""
        return untyped.sanitize_for_serialization(call(name, namespace))

    clients = read(core.read_namespaced_service, "guarded")
    assert [(p["name"], p["targetPort"]) for p in clients["spec"]["ports"]] == [
        ("http", ROUTER_PORT)]
    admin = read(core.read_namespaced_service, "guarded-router-admin")
    assert [(p["name"], p["port"]) for p in admin["spec"]["ports"]] == [("admin", ADMIN_PORT)]
    assert admin["metadata"]["labels"]["rollouts.mlops.dev/role"] == "router-admin"

    policy = read(net.read_namespaced_network_policy, "guarded-router")["spec"]
    assert policy["podSelector"]["matchLabels"] == {
        "rollouts.mlops.dev/rollout": "guarded", "rollouts.mlops.dev/role": "router"}
    assert policy["policyTypes"] == ["Ingress"]
    serving, admin_rule = policy["ingress"]
    assert serving == {"ports": [{"port": ROUTER_PORT, "protocol": "TCP"}]}  # from anyone
    assert admin_rule["ports"] == [{"port": ADMIN_PORT, "protocol": "TCP"}]
    assert admin_rule["from"] == [dict(peer) for peer in DEFAULT_ADMIN_PEERS]

    secret = read(core.read_namespaced_secret, "guarded-router-admin")
    assert len(base64.b64decode(secret["data"]["token"])) >= 32
    assert secret["metadata"]["ownerReferences"][0]["name"] == "guarded"
    pod = read(client.AppsV1Api(api).read_namespaced_deployment,
               "guarded-router")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["admin-token"]["secret"]["secretName"] == "guarded-router-admin"
    container = pod["containers"][0]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    token_file = container["args"][container["args"].index("--admin-token-file") + 1]
    assert token_file.startswith(mounts["admin-token"]["mountPath"])
    assert mounts["admin-token"]["readOnly"]
    # The prediction-token key ring: one Secret, mounted read-only into every replica.
    keys = read(core.read_namespaced_secret, "guarded-router-tokens")
    ring = json.loads(base64.b64decode(keys["data"]["keys.json"]))
    assert len(base64.urlsafe_b64decode(ring["current"]["key"] + "==")) >= 32
    assert volumes["token-keys"]["secret"]["secretName"] == "guarded-router-tokens"
    keys_file = container["args"][container["args"].index("--token-keys-file") + 1]
    assert keys_file.startswith(mounts["token-keys"]["mountPath"])
    assert mounts["token-keys"]["readOnly"]

    # The token is made once: a later reconcile (a new revision) does not rewrite it.
    rollouts.set_image("guarded", "model:2")
    rollouts.wait_status("guarded", "the new revision promoted",
                         lambda s: s.get("phase") == "Healthy"
                         and s.get("observedGeneration") == 2, timeout=90)
    again = read(core.read_namespaced_secret, "guarded-router-admin")
    assert again["data"]["token"] == secret["data"]["token"]
    assert read(core.read_namespaced_secret, "guarded-router-tokens")["data"] == keys["data"]
