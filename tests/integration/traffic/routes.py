"""The two managed-route routers side by side, against the real CRDs: each one's object as Git
holds it (entry 1, `predict`, is the model's and sends to stable), how it spells backends and
mirrors, and a `Routes` adapter that lets one test speak to either router."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes import client

from controller.api.routing import GatewayAPIRouter, IstioRouter
from controller.rollout.ref import RolloutRef
from controller.rollout.split import TrafficSplit
from controller.traffic.base import RouterError
from controller.traffic.gatewayapi import HTTPROUTE, HTTPRouteRouter
from controller.traffic.istio import VIRTUALSERVICE, VirtualServiceRouter
from controller.traffic.managed import ManagedRouteRouter, Resource, read
from tests.integration.traffic.kube import get

JSON = dict[str, Any]

PORT = 8080
SHADOW_V3 = RolloutRef("fraud", "any", "uid-1", PORT).shadow_service("v3")
GITOPS_METADATA = {"labels": {"team": "risk"},
                   "annotations": {"argocd.argoproj.io/tracking-id": "fraud:web"}}


# --- HTTPRoute -------------------------------------------------------------------------------

HEADER_FILTER = {"type": "RequestHeaderModifier",
                 "requestHeaderModifier": {"set": [{"name": "x-team", "value": "risk"}]}}
AUDIT_FILTER = {"type": "RequestMirror", "requestMirror": {
    "backendRef": {"group": "", "kind": "Service", "name": "audit", "port": 9000},
    "percent": 1}}


def http_route(namespace: str) -> JSON:
    """What Git holds: two rules, the second one sends to the stable Service."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": namespace, **GITOPS_METADATA},
        "spec": {
            "parentRefs": [{"name": "edge"}],
            "hostnames": ["fraud.example.com"],
            "rules": [
                {"name": "health", "matches": [{"path": {"type": "Exact", "value": "/healthz"}}],
                 "backendRefs": [{"name": "health", "port": 80}]},
                {"name": "predict",
                 "matches": [{"path": {"type": "PathPrefix", "value": "/predict"}}],
                 "filters": [HEADER_FILTER, AUDIT_FILTER],
                 "backendRefs": [{"name": "fraud-stable", "port": PORT}]},
            ],
        },
    }


def http_route_router(api: client.ApiClient, entry_name: str | None = "predict",
                      name: str = "web") -> HTTPRouteRouter:
    return HTTPRouteRouter(api, GatewayAPIRouter(http_route=name, rule_name=entry_name))


def ref(name: str, weight: int) -> JSON:
    return {"group": "", "kind": "Service", "name": name, "port": PORT, "weight": weight}


def mirror_filter(name: str, percent: int) -> JSON:
    return {"type": "RequestMirror", "requestMirror": {
        "backendRef": {"group": "", "kind": "Service", "name": name, "port": PORT},
        "percent": percent}}


# --- VirtualService --------------------------------------------------------------------------

AUDIT_MIRROR = {"destination": {"host": "audit.tools.svc.cluster.local"},
                "percentage": {"value": 1.5}}


def virtual_service(namespace: str) -> JSON:
    """What Git holds: a health route first, then the model's route."""
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": namespace, **GITOPS_METADATA},
        "spec": {
            "hosts": ["fraud.example.com"], "gateways": ["edge"],
            "http": [
                {"name": "health", "match": [{"uri": {"exact": "/healthz"}}],
                 "route": [{"destination": {"host": "health"}}]},
                {"name": "predict", "match": [{"uri": {"prefix": "/predict"}}],
                 "retries": {"attempts": 2, "perTryTimeout": "2s"}, "timeout": "5s",
                 "mirrors": [AUDIT_MIRROR],
                 "route": [{"destination": {"host": "fraud-stable"}}]},
            ],
        },
    }


def virtual_service_router(api: client.ApiClient, entry_name: str | None = "predict",
                           name: str = "web") -> VirtualServiceRouter:
    return VirtualServiceRouter(api, IstioRouter(virtual_service=name, route_name=entry_name))


def dest(host: str, weight: int) -> JSON:
    return {"destination": {"host": host, "port": {"number": PORT}}, "weight": weight}


def mirror(host: str, percent: int) -> JSON:
    return {"destination": {"host": host, "port": {"number": PORT}},
            "percentage": {"value": percent}}


# --- either ----------------------------------------------------------------------------------


class MakeRouter(Protocol):
    def __call__(self, api: client.ApiClient, entry_name: str | None = ...,
                 name: str = ...) -> ManagedRouteRouter: ...


@dataclass(frozen=True)
class Routes:
    """One router as the cluster tests see it: its object as Git holds it, what we write."""

    name: str
    field: str  # spec.<field>: the entries
    backends_key: str  # in an entry: the weighted backends
    mirrors_key: str  # in an entry: the list our mirrors join
    resource: Resource
    kind: str  # as messages spell it
    manifest: Callable[[str], JSON]  # namespace -> what Git holds
    router: MakeRouter  # the router managing entry `entry_name` of object `name`
    default_index: int  # the entry managed when none is named
    foreign_mirrors: list[JSON]  # the predict entry's mirrors list as Git holds it
    backend: Callable[[str, int], JSON]  # a backend as we write it
    mirror: Callable[[str, int], JSON]  # a mirror as we write it
    gitops_spec: tuple[str, ...]  # spec fields that only the GitOps tool writes
    kept_entry: tuple[str, ...]  # fields of the predict entry that are not ours
    match_key: str  # the entry's list of request matches
    extra_match: JSON  # one more match, as someone else might add it
    missing_score: str  # the error for a missing entry "score" in {namespace}

    def get(self, api: client.ApiClient, namespace: str) -> JSON:
        return get(api, self.resource, namespace, "web")

    def entries(self, obj: JSON) -> list[JSON]:
        found: list[JSON] = obj["spec"][self.field]
        return found

    def predict(self, api: client.ApiClient, namespace: str) -> JSON:
        return self.entries(self.get(api, namespace))[1]


GATEWAY_API = Routes(
    name="gatewayAPI", field="rules", backends_key="backendRefs", mirrors_key="filters",
    resource=HTTPROUTE, kind="HTTPRoute", manifest=http_route,
    router=http_route_router, default_index=1,
    foreign_mirrors=[HEADER_FILTER, AUDIT_FILTER], backend=ref, mirror=mirror_filter,
    gitops_spec=("parentRefs", "hostnames"), kept_entry=("name", "matches"),
    match_key="matches", extra_match={"path": {"type": "Exact", "value": "/livez"}},
    missing_score="rule 'score' not found in HTTPRoute {namespace}/web")
ISTIO = Routes(
    name="istio", field="http", backends_key="route", mirrors_key="mirrors",
    resource=VIRTUALSERVICE, kind="VirtualService", manifest=virtual_service,
    router=virtual_service_router, default_index=0,
    foreign_mirrors=[AUDIT_MIRROR], backend=dest, mirror=mirror,
    gitops_spec=("hosts", "gateways"), kept_entry=("name", "match", "retries", "timeout"),
    match_key="match", extra_match={"uri": {"exact": "/livez"}},
    missing_score="http route 'score' not found in VirtualService {namespace}/web")
ROUTES = [GATEWAY_API, ISTIO]


def holds(router: ManagedRouteRouter, rollout: RolloutRef, split: TrafficSplit) -> bool:
    """Whether the object holds exactly `split` now: False when it or its entry is missing."""
    current = read(router._api, router.resource, rollout.namespace, router._name)
    if current is None:
        return False
    try:
        wanted = router.with_split(current, rollout, split)
    except RouterError:
        return False
    return bool(wanted["spec"][router.field] == current["spec"].get(router.field))
