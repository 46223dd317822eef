"""The builtin router: our model router, driven by a routing table in a ConfigMap we own.

The table (controller.contract.table, docs/router.md) lives in ConfigMap `<name>-routing`, key
`table.json`; the router Deployment `<name>-router` watches it and serves on Service `<name>`.
The table's version grows by one whenever its content changes, so a router never applies an
older table.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from controller.api.spec import BuiltinRouter, TrafficRouting
from controller.contract.table import (
    BASIS_POINTS,
    CANDIDATE,
    TABLE_KEY,
    Candidate,
    FaultSpec,
    Overrides,
    PredictionSpec,
    RoutingTable,
    Shadow,
    Sticky,
    TableError,
    Variant,
    parse_table,
    table_error,
    table_json,
)
from controller.operator.children import MANAGED_BY, ROLE_LABEL, ROLLOUT_LABEL, owner_reference
from controller.operator.kube import APPLY, FIELD_MANAGER, Kube
from controller.operator.settings import (
    ROUTER_SERVICE_ACCOUNT_ENV,
    BuiltinRouterSettings,
    OperatorSettings,
)
from controller.rollout.ref import RolloutRef
from controller.rollout.split import TrafficSplit
from controller.traffic.base import RouterError

ROUTER_PORT, ADMIN_PORT = 8080, 9090
ROUTER_UID = 10001  # the image's user (Dockerfile)
RBAC_API = "rbac.authorization.k8s.io/v1"
_PERCENT = BASIS_POINTS // 100


def config_map_name(rollout: RolloutRef) -> str:
    return f"{rollout.name}-routing"


def router_account_name(rollout: RolloutRef) -> str:
    """The router's ServiceAccount, Role and RoleBinding (and its Deployment) are all this."""
    return f"{rollout.name}-router"


def address(rollout: RolloutRef, service: str, revision: str,
            overrides: BuiltinRouterSettings) -> str:
    dns = f"{service}.{rollout.namespace}.svc"
    found = overrides.address_overrides
    return found.get(revision) or found.get(dns, f"{dns}:{rollout.port}")


def routing_table(rollout: RolloutRef, config: BuiltinRouter, split: TrafficSplit,
                  version: int, settings: BuiltinRouterSettings | None = None) -> RoutingTable:
    """The model router's table for `split`; weights and fractions in basis points.
    Raises TableError (fields named) for a table the router would refuse."""
    where = settings or BuiltinRouterSettings()
    prediction = (PredictionSpec.model_validate(config.prediction.model_dump(by_alias=True))
                  if config.prediction else None)

    def backends(service: str, revision: str) -> list[str]:
        return [address(rollout, service, revision, where)]

    try:
        candidate = None
        if split.candidate_revision is not None:
            faults = split.candidate_faults
            candidate = Candidate(
                backends=backends(rollout.candidate_service, split.candidate_revision),
                model=split.candidate_revision, prediction=prediction,
                weight_bp=split.candidate_weight * _PERCENT,
                mirror_bp=split.mirror_percent(CANDIDATE) * _PERCENT,
                faults=FaultSpec() if faults is None else FaultSpec(
                    fraction_bp=faults.fraction_basis_points,
                    added_latency_ms=faults.added_latency_milliseconds,
                    error_status=faults.error_status,
                    corrupt_prediction=faults.corrupt_prediction))
        return RoutingTable(
            version=version,
            salt=config.salt or f"{rollout.namespace}/{rollout.name}",
            stable=Variant(backends=backends(rollout.stable_service, split.stable_revision),
                           model=split.stable_revision, prediction=prediction),
            candidate=candidate,
            shadows=[Shadow(backends=backends(rollout.shadow_service(m.variant), m.revision),
                            model=m.revision, prediction=prediction, name=m.variant,
                            mirror_bp=m.percent * _PERCENT)
                     for m in split.mirrors if m.variant != CANDIDATE],
            sticky=Sticky.model_validate(_wire(config.unit)),
            overrides=Overrides.model_validate(_wire(config.overrides)),
        )
    except ValidationError as error:
        raise table_error(error) from None


def _wire(section: Any) -> dict[str, Any]:
    return {} if section is None else dict(section.model_dump(by_alias=True, exclude_none=True))


class BuiltinTrafficRouter:
    def __init__(self, kube: Kube, config: BuiltinRouter,
                 settings: BuiltinRouterSettings) -> None:
        self.kube = kube
        self.config = config
        self.settings = settings

    def held_table(self, rollout: RolloutRef) -> tuple[int, RoutingTable | None]:
        """The version and table the ConfigMap holds (0 and None if there is none; the
        version alone if the table does not parse, so that ours still supersedes it)."""
        found = self.kube.read_config_map(rollout.namespace, config_map_name(rollout))
        if found is None or not found.data or TABLE_KEY not in found.data:
            return 0, None
        try:
            table = parse_table(found.data[TABLE_KEY])
        except TableError:
            raw = _loads(found.data[TABLE_KEY])
            version = raw.get("version") if isinstance(raw, dict) else None
            return (version if isinstance(version, int) and version >= 0 else 0), None
        return table.version, table

    def apply(self, rollout: RolloutRef, split: TrafficSplit) -> None:
        key = ("RoutingTable", rollout.namespace, rollout.name)
        wanted = routing_table(rollout, self.config, split, 0, self.settings)
        content = table_json(wanted)
        if self.kube.applied.fresh(key, content):
            return  # this process wrote exactly this table moments ago: skip the read
        version, held = self.held_table(rollout)
        if held is None or held.model_copy(update={"version": 0}) != wanted:
            self.kube.apply(self._config_map(
                rollout, wanted.model_copy(update={"version": version + 1})))
        for manifest in router_access_manifests(rollout, self.settings):
            apply_access(self.kube, manifest)  # before the pods that run as the account
        for manifest in router_manifests(rollout, self.config, self.settings):
            self.kube.apply(manifest)
        self.kube.applied.remember(key, content)

    def remove(self, rollout: RolloutRef) -> None:
        self.kube.applied.forget(("RoutingTable", rollout.namespace, rollout.name))
        version, held = self.held_table(rollout)
        if held is not None and held.candidate is not None:
            self.kube.apply(self._config_map(
                rollout, held.model_copy(update={"candidate": None, "version": version + 1})))

    def _config_map(self, rollout: RolloutRef, table: RoutingTable) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": config_map_name(rollout), "namespace": rollout.namespace,
                "labels": {ROLLOUT_LABEL: rollout.name, ROLE_LABEL: "routing", **MANAGED_BY},
                "ownerReferences": [owner_reference(rollout)],
            },
            "data": {TABLE_KEY: table_json(table)},
        }


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def router_manifests(rollout: RolloutRef, config: BuiltinRouter,
                     settings: BuiltinRouterSettings) -> list[dict[str, Any]]:
    """The model router's Deployment and the Service clients call (`<name>`). The router pods
    pass Pod Security "restricted" and run as the account of router_access_manifests."""
    labels = {ROLLOUT_LABEL: rollout.name, ROLE_LABEL: "router"}
    meta = {"namespace": rollout.namespace, "labels": {**labels, **MANAGED_BY},
            "ownerReferences": [owner_reference(rollout)]}
    container = {
        "name": "router", "image": settings.image,
        "command": ["python", "-m", "controller.router"],
        "args": ["--listen", f"0.0.0.0:{ROUTER_PORT}", "--admin", f"0.0.0.0:{ADMIN_PORT}",
                 "--table-configmap", f"{rollout.namespace}/{config_map_name(rollout)}"],
        "ports": [{"name": "http", "containerPort": ROUTER_PORT},
                  {"name": "admin", "containerPort": ADMIN_PORT}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": ADMIN_PORT}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": ADMIN_PORT},
                          "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6},
        "resources": (config.resources or settings.resources).wire(),
        # Pod Security "restricted", and a writable /tmp only (the image's HOME and TMPDIR).
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_spec: dict[str, Any] = {
        "containers": [container],
        # its own account (router_access_manifests), or the user-managed one if configured
        "serviceAccountName": settings.service_account or router_account_name(rollout),
        "automountServiceAccountToken": True,  # the router watches its table with this token
        "securityContext": {"runAsNonRoot": True, "runAsUser": ROUTER_UID,
                            "runAsGroup": ROUTER_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"{rollout.name}-router", **meta},
        "spec": {"replicas": config.replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": pod_spec}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": rollout.name, **meta},
        "spec": {"selector": labels, "ports": [
            {"name": "http", "port": rollout.port, "targetPort": ROUTER_PORT},
            {"name": "admin", "port": ADMIN_PORT, "targetPort": ADMIN_PORT}]},
    }
    return [deployment, service]


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
    meta = {"name": name, "namespace": rollout.namespace,
            "labels": {ROLLOUT_LABEL: rollout.name, ROLE_LABEL: "router", **MANAGED_BY},
            "ownerReferences": [owner_reference(rollout)]}
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


def apply_access(kube: Kube, manifest: dict[str, Any]) -> None:
    """Server-side apply of one of router_access_manifests, as Kube.apply does for the other
    children (same field manager, same cache of what this process applied)."""
    kind, meta = manifest["kind"], manifest["metadata"]
    key = (kind, meta["namespace"], meta["name"])
    fingerprint = json.dumps(manifest, sort_keys=True)
    if kube.applied.fresh(key, fingerprint):
        return
    arguments: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force": True,
                                 "_content_type": APPLY}
    rbac = client.RbacAuthorizationV1Api(kube.api)
    patch = {"ServiceAccount": client.CoreV1Api(kube.api).patch_namespaced_service_account,
             "Role": rbac.patch_namespaced_role,
             "RoleBinding": rbac.patch_namespaced_role_binding}.get(kind)
    if patch is None:
        raise ValueError(f"cannot apply kind {kind}")
    try:
        patch(meta["name"], meta["namespace"], manifest, **arguments)
    except ApiException as error:
        if error.status != 403:
            raise
        raise RouterError(
            f"forbidden to apply the router's {kind} {meta['namespace']}/{meta['name']}: "
            "grant the operator create and patch on serviceaccounts, roles and rolebindings "
            "and list and watch on configmaps (docs/helm.md), or run routers as a "
            f"user-managed ServiceAccount ({ROUTER_SERVICE_ACCOUNT_ENV})") from None
    kube.applied.remember(key, fingerprint)


def from_routing(api: client.ApiClient, routing: TrafficRouting,
                 settings: OperatorSettings) -> BuiltinTrafficRouter:
    return BuiltinTrafficRouter(Kube(api), routing.builtin or BuiltinRouter(), settings.router)
