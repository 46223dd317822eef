"""What the builtin router runs on per rollout: the router Deployment and its Services, the
NetworkPolicy of its ports, its admin token and token-key Secrets and its own RBAC.

Pure manifests; controller.traffic.builtin applies them. The router pods pass Pod Security
"restricted", clients reach only the serving port, and the router may read only its table.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from controller.api.routing import BuiltinRouter
from controller.contract.keyring import new_keyring
from controller.operator.children import MANAGED_BY, ROLE_LABEL, ROLLOUT_LABEL, owner_reference
from controller.operator.settings import BuiltinRouterSettings
from controller.rollout.ref import RolloutRef

ROUTER_PORT, ADMIN_PORT = 8080, 9090
ROUTER_UID = 10001  # the image's user (Dockerfile)
RBAC_API = "rbac.authorization.k8s.io/v1"
ADMIN_TOKEN_KEY = "token"
ADMIN_TOKEN_DIR = "/var/run/secrets/modelrollout/router-admin"
TOKEN_KEYS_KEY = "keys.json"
TOKEN_KEYS_DIR = "/var/run/secrets/modelrollout/prediction-tokens"


def config_map_name(rollout: RolloutRef) -> str:
    return f"{rollout.name}-routing"


def router_account_name(rollout: RolloutRef) -> str:
    """The router's ServiceAccount, Role and RoleBinding (and its Deployment) are all this."""
    return f"{rollout.name}-router"


def admin_secret_name(rollout: RolloutRef) -> str:
    return f"{rollout.name}-router-admin"


def token_keys_secret_name(rollout: RolloutRef) -> str:
    return f"{rollout.name}-router-tokens"


def admin_service_name(rollout: RolloutRef) -> str:
    return f"{rollout.name}-router-admin"


def _meta(rollout: RolloutRef, name: str, role: str) -> dict[str, Any]:
    return {"name": name, "namespace": rollout.namespace,
            "labels": {ROLLOUT_LABEL: rollout.name, ROLE_LABEL: role, **MANAGED_BY},
            "ownerReferences": [owner_reference(rollout)]}


def admin_secret(rollout: RolloutRef) -> dict[str, Any]:
    """The bearer token of the router's admin port, made once per rollout (never rewritten)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(rollout, admin_secret_name(rollout), "router-admin"),
            "stringData": {ADMIN_TOKEN_KEY: secrets.token_urlsafe(32)}}


def token_keys_secret(rollout: RolloutRef) -> dict[str, Any]:
    """The key ring that signs prediction tokens, shared by every router replica, made once
    per rollout (rotate it with docs/router.md, "Rotating the token keys")."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(rollout, token_keys_secret_name(rollout), "router-tokens"),
            "stringData": {TOKEN_KEYS_KEY: json.dumps(new_keyring())}}


def router_manifests(rollout: RolloutRef, config: BuiltinRouter,
                     settings: BuiltinRouterSettings) -> list[dict[str, Any]]:
    """The router Deployment (run as the account of router_access_manifests), the Service
    clients call (`<name>`, the serving port only), the admin Service Prometheus scrapes, and
    the NetworkPolicy that admits only the configured peers to the admin port."""
    labels = {ROLLOUT_LABEL: rollout.name, ROLE_LABEL: "router"}
    name = router_account_name(rollout)
    container = {
        "name": "router", "image": settings.image,
        "command": ["python", "-m", "controller.router"],
        "args": ["--listen", f"0.0.0.0:{ROUTER_PORT}", "--admin", f"0.0.0.0:{ADMIN_PORT}",
                 "--table-configmap", f"{rollout.namespace}/{config_map_name(rollout)}",
                 "--admin-token-file", f"{ADMIN_TOKEN_DIR}/{ADMIN_TOKEN_KEY}",
                 "--token-keys-file", f"{TOKEN_KEYS_DIR}/{TOKEN_KEYS_KEY}",
                 "--unit-buckets", str(settings.unit_buckets)],
        "ports": [{"name": "http", "containerPort": ROUTER_PORT},
                  {"name": "admin", "containerPort": ADMIN_PORT}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": ADMIN_PORT}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": ADMIN_PORT},
                          "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6},
        "resources": (config.resources or settings.resources).wire(),
        # Pod Security "restricted", and a writable /tmp only (the image's HOME and TMPDIR).
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                         {"name": "admin-token", "mountPath": ADMIN_TOKEN_DIR,
                          "readOnly": True},
                         {"name": "token-keys", "mountPath": TOKEN_KEYS_DIR,
                          "readOnly": True}],
    }
    pod_spec: dict[str, Any] = {
        "containers": [container],
        # its own account (router_access_manifests), or the user-managed one if configured
        "serviceAccountName": settings.service_account or name,
        "automountServiceAccountToken": True,  # the router watches its table with this token
        "securityContext": {"runAsNonRoot": True, "runAsUser": ROUTER_UID,
                            "runAsGroup": ROUTER_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    {"name": "admin-token", "secret": {
                        "secretName": admin_secret_name(rollout), "defaultMode": 0o440}},
                    {"name": "token-keys", "secret": {
                        "secretName": token_keys_secret_name(rollout), "defaultMode": 0o440}}],
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(rollout, name, "router"),
        "spec": {"replicas": config.replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": pod_spec}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": _meta(rollout, rollout.name, "router"),
        "spec": {"selector": labels, "ports": [
            {"name": "http", "port": rollout.port, "targetPort": ROUTER_PORT}]},
    }
    admin_service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta(rollout, admin_service_name(rollout), "router-admin"),
        "spec": {"selector": labels, "clusterIP": "None", "ports": [
            {"name": "admin", "port": ADMIN_PORT, "targetPort": ADMIN_PORT}]},
    }
    network_policy = {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": _meta(rollout, name, "router"),
        "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress"],
                 "ingress": [
                     {"ports": [{"protocol": "TCP", "port": ROUTER_PORT}]},
                     {"from": [dict(peer) for peer in settings.admin_peers],
                      "ports": [{"protocol": "TCP", "port": ADMIN_PORT}]}]},
    }
    return [deployment, service, admin_service, network_policy]


def router_access_manifests(rollout: RolloutRef,
                            settings: BuiltinRouterSettings) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding `<name>-router`: the router may list and watch its
    own table ConfigMap and nothing else (the API server authorizes a list or watch with the
    field selector metadata.name=<name>-routing against resourceNames). None when routers run
    as a user-managed ServiceAccount (MODELROLLOUT_ROUTER_SERVICE_ACCOUNT).

    The operator may create the Role only because it holds list and watch on ConfigMaps
    itself (RBAC escalation prevention), and needs no `bind` or `escalate`."""
    if settings.service_account:
        return []
    name = router_account_name(rollout)
    meta = _meta(rollout, name, "router")
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": RBAC_API, "kind": "Role", "metadata": meta, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"],
             "resourceNames": [config_map_name(rollout)], "verbs": ["list", "watch"]}]},
        {"apiVersion": RBAC_API, "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name,
                       "namespace": rollout.namespace}]},
    ]
