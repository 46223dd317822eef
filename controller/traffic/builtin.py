"""The builtin router: our model router, driven by a routing table in a ConfigMap we own.

The table (docs/router.md) lives in ConfigMap `<name>-routing`, key `table.json`; the router
Deployment `<name>-router` watches it and serves on Service `<name>`. The table's version
grows by one whenever its content changes, so a router never applies an older table.
"""

from __future__ import annotations

import json
import os
from typing import Any

from kubernetes import client

from controller.api.spec import BuiltinRouter, TrafficRouting
from controller.children import MANAGED_BY, ROLE_LABEL, ROLLOUT_LABEL, owner_reference
from controller.kube import Kube
from controller.rollout.traffic import TrafficSplit
from controller.router.table import parse_table
from controller.traffic.base import RolloutRef

TABLE_KEY = "table.json"
ROUTER_IMAGE = os.environ.get("MODELROLLOUT_ROUTER_IMAGE", "modelrollout/modelrollout:0.1.0")
ROUTER_SERVICE_ACCOUNT = os.environ.get("MODELROLLOUT_ROUTER_SERVICE_ACCOUNT", "")
ROUTER_PORT, ADMIN_PORT = 8080, 9090
# Where a revision really answers when its pods cannot (kwok's pods are not processes): a JSON
# object from a revision hash, or a Service DNS name, to host:port. The local demo uses it.
ADDRESS_OVERRIDES: dict[str, str] = json.loads(os.environ.get("MODELROLLOUT_ADDRESSES", "{}"))


def config_map_name(rollout: RolloutRef) -> str:
    return f"{rollout.name}-routing"


def address(rollout: RolloutRef, service: str, revision: str) -> str:
    dns = f"{service}.{rollout.namespace}.svc"
    return ADDRESS_OVERRIDES.get(revision) or ADDRESS_OVERRIDES.get(dns, f"{dns}:{rollout.port}")


def routing_table(rollout: RolloutRef, config: BuiltinRouter, split: TrafficSplit,
                  version: int) -> dict[str, Any]:
    """The model router's table for `split`; weights and fractions in basis points."""
    prediction = config.prediction.model_dump(by_alias=True) if config.prediction else None

    def variant(service: str, revision: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"backends": [address(rollout, service, revision)],
                                 "model": revision}
        if prediction is not None:
            entry["prediction"] = prediction
        return entry

    table: dict[str, Any] = {
        "version": version,
        "salt": config.salt or f"{rollout.namespace}/{rollout.name}",
        "stable": variant(rollout.stable_service, split.stable_revision),
    }
    if split.candidate_revision is not None:
        candidate = variant(rollout.candidate_service, split.candidate_revision)
        candidate["weightBp"] = split.candidate_weight * 100
        candidate["mirrorBp"] = split.mirror_percent("candidate") * 100
        if split.candidate_faults is not None:
            faults = split.candidate_faults
            candidate["faults"] = {
                "fractionBp": faults.fraction_basis_points,
                "addedLatencyMs": faults.added_latency_milliseconds,
                "errorStatus": faults.error_status,
                "corruptPrediction": faults.corrupt_prediction,
            }
        table["candidate"] = candidate
    table["shadows"] = [
        {**variant(rollout.shadow_service(m.variant), m.revision), "name": m.variant,
         "mirrorBp": m.percent * 100}
        for m in split.mirrors if m.variant != "candidate"
    ]
    if config.unit is not None:
        table["sticky"] = config.unit.model_dump(by_alias=True, exclude_none=True)
    if config.overrides is not None:
        table["overrides"] = config.overrides.model_dump(by_alias=True, exclude_none=True)
    parse_table(table)  # the router would refuse an invalid table: fail here, loudly
    return table


def _without_version(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if k != "version"}


class BuiltinTrafficRouter:
    def __init__(self, api: client.ApiClient, config: BuiltinRouter) -> None:
        self.kube = Kube(api)
        self.config = config

    def current_table(self, rollout: RolloutRef) -> dict[str, Any] | None:
        found = self.kube.read_config_map(rollout.namespace, config_map_name(rollout))
        if found is None or not found.data or TABLE_KEY not in found.data:
            return None
        table: dict[str, Any] = json.loads(found.data[TABLE_KEY])
        return table

    def apply(self, rollout: RolloutRef, split: TrafficSplit) -> None:
        key = ("RoutingTable", rollout.namespace, rollout.name)
        content = json.dumps(_without_version(routing_table(rollout, self.config, split, 0)),
                             sort_keys=True)
        if self.kube.applied.fresh(key, content):
            return  # this process wrote exactly this table moments ago: skip the read
        current = self.current_table(rollout)
        version = (current or {}).get("version", 0)
        wanted = routing_table(rollout, self.config, split, version + 1)
        if current is None or _without_version(current) != _without_version(wanted):
            self.kube.apply(self._config_map(rollout, wanted))
        for manifest in router_manifests(rollout, self.config):
            self.kube.apply(manifest)
        self.kube.applied.remember(key, content)

    def verify(self, rollout: RolloutRef, split: TrafficSplit) -> bool:
        current = self.current_table(rollout)
        if current is None:
            return False
        wanted = routing_table(rollout, self.config, split, current.get("version", 0))
        return _without_version(current) == _without_version(wanted)

    def remove(self, rollout: RolloutRef) -> None:
        self.kube.applied.forget(("RoutingTable", rollout.namespace, rollout.name))
        current = self.current_table(rollout)
        if current is not None and current.get("candidate") is not None:
            current.pop("candidate")
            current["version"] = current.get("version", 0) + 1
            self.kube.apply(self._config_map(rollout, current))

    def _config_map(self, rollout: RolloutRef, table: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": config_map_name(rollout), "namespace": rollout.namespace,
                "labels": {ROLLOUT_LABEL: rollout.name, ROLE_LABEL: "routing", **MANAGED_BY},
                "ownerReferences": [owner_reference(rollout)],
            },
            "data": {TABLE_KEY: json.dumps(table, sort_keys=True)},
        }


def router_manifests(rollout: RolloutRef, config: BuiltinRouter) -> list[dict[str, Any]]:
    """The model router's Deployment and the Service clients call (`<name>`)."""
    labels = {ROLLOUT_LABEL: rollout.name, ROLE_LABEL: "router"}
    meta = {"namespace": rollout.namespace, "labels": {**labels, **MANAGED_BY},
            "ownerReferences": [owner_reference(rollout)]}
    container = {
        "name": "router", "image": ROUTER_IMAGE, "command": ["python", "-m", "controller.router"],
        "args": ["--listen", f"0.0.0.0:{ROUTER_PORT}", "--admin", f"0.0.0.0:{ADMIN_PORT}",
                 "--table-configmap", f"{rollout.namespace}/{config_map_name(rollout)}"],
        "ports": [{"name": "http", "containerPort": ROUTER_PORT},
                  {"name": "admin", "containerPort": ADMIN_PORT}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": ADMIN_PORT}},
        "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
                            "allowPrivilegeEscalation": False},
    }
    pod_spec: dict[str, Any] = {"containers": [container]}
    if ROUTER_SERVICE_ACCOUNT:  # it must watch the table ConfigMap (see docs/helm.md)
        pod_spec["serviceAccountName"] = ROUTER_SERVICE_ACCOUNT
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


def from_routing(api: client.ApiClient, routing: TrafficRouting) -> BuiltinTrafficRouter:
    return BuiltinTrafficRouter(api, routing.builtin or BuiltinRouter())
