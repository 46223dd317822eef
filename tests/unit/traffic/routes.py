"""The two managed-route routers side by side, for pure tests: each one's object as Git holds it
(entry 1, `predict`, is the model's and sends to stable), how it spells backends and mirrors, and
a `Routes` adapter that lets one test speak to either router."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes import client

from controller.api.routing import GatewayAPIRouter, IstioRouter
from controller.rollout.ref import RolloutRef
from controller.rollout.split import Mirror, TrafficSplit
from controller.traffic.gatewayapi import HTTPRouteRouter
from controller.traffic.istio import VirtualServiceRouter
from controller.traffic.managed import ManagedRouteRouter

JSON = dict[str, Any]

ROLLOUT = RolloutRef(name="fraud", namespace="ml", uid="u1", port=8080)
API = client.ApiClient()  # never called: the rewriting is pure


def canary(weight: int, *mirrors: Mirror) -> TrafficSplit:
    return TrafficSplit("r1", "r2", weight, mirrors=mirrors)


# --- HTTPRoute -------------------------------------------------------------------------------

HEADER_FILTER = {"type": "RequestHeaderModifier",
                 "requestHeaderModifier": {"set": [{"name": "x-team", "value": "risk"}]}}
FOREIGN_FILTER = {"type": "RequestMirror", "requestMirror": {
    "backendRef": {"group": "", "kind": "Service", "name": "audit", "port": 9000}}}


def http_route_router(rule_name: str | None = "predict") -> HTTPRouteRouter:
    return HTTPRouteRouter(API, GatewayAPIRouter(http_route="web", rule_name=rule_name))


def ref(name: str, weight: int = 1, port: int = 8080, **extra: Any) -> JSON:
    return {"group": "", "kind": "Service", "name": name, "port": port, "weight": weight, **extra}


def mirror_filter(name: str, percent: int) -> JSON:
    return {"type": "RequestMirror", "requestMirror": {
        "backendRef": {"group": "", "kind": "Service", "name": name, "port": 8080},
        "percent": percent}}


def route() -> JSON:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "ml", "labels": {"team": "risk"}},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "hostnames": ["fraud.example.com"],
            "rules": [
                {"name": "health", "matches": [{"path": {"type": "Exact", "value": "/healthz"}}],
                 "backendRefs": [ref("health", port=80)]},
                {"name": "predict",
                 "matches": [{"path": {"type": "PathPrefix", "value": "/predict"}}],
                 "filters": [HEADER_FILTER, FOREIGN_FILTER],
                 "timeouts": {"request": "10s"},
                 "backendRefs": [ref("fraud-stable")]},
            ],
        },
        "status": {"parents": []},
    }


# --- VirtualService --------------------------------------------------------------------------

FOREIGN_MIRROR = {"destination": {"host": "audit.tools.svc.cluster.local"},
                  "percentage": {"value": 1.5}}
STABLE_HEADERS = {"request": {"set": {"x-variant": "stable"}}}


def virtual_service_router(route_name: str | None = "predict") -> VirtualServiceRouter:
    return VirtualServiceRouter(API, IstioRouter(virtual_service="web", route_name=route_name))


def dest(host: str, weight: int, port: int = 8080) -> JSON:
    return {"destination": {"host": host, "port": {"number": port}}, "weight": weight}


def mirror(host: str, percent: int) -> JSON:
    return {"destination": {"host": host, "port": {"number": 8080}},
            "percentage": {"value": percent}}


def virtual_service() -> JSON:
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": "ml", "annotations": {"owner": "gitops"}},
        "spec": {
            "hosts": ["fraud.example.com"], "gateways": ["edge"],
            "http": [
                {"name": "health", "match": [{"uri": {"exact": "/healthz"}}],
                 "route": [dest("health", 100, port=80)]},
                {"name": "predict", "match": [{"uri": {"prefix": "/predict"}}],
                 "retries": {"attempts": 2}, "timeout": "5s",
                 "mirrors": [FOREIGN_MIRROR],
                 "route": [{"destination": {"host": "fraud-stable.ml.svc.cluster.local",
                                            "subset": "v1"},
                            "headers": STABLE_HEADERS}]},
            ],
        },
    }


# --- either ----------------------------------------------------------------------------------


class MakeRouter(Protocol):
    def __call__(self, entry_name: str | None = ..., /) -> ManagedRouteRouter: ...


@dataclass(frozen=True)
class Routes:
    """One router as the pure shared tests see it: how to build it, what it writes."""

    name: str
    field: str  # spec.<field>: the entries
    backends_key: str  # in an entry: the weighted backends
    mirrors_key: str  # in an entry: the list our mirrors join
    router: MakeRouter  # the router managing the entry named (by default "predict")
    obj: Callable[[], JSON]  # the object as Git holds it
    default_index: int  # the entry managed when none is named
    foreign_mirrors: list[JSON]  # the predict entry's mirrors list as read
    backend: Callable[[str, int], JSON]  # a backend as we write it
    stable: Callable[[int], JSON]  # the predict entry's stable backend once we rewrote it
    mirror: Callable[[str, int], JSON]  # a mirror as we write it
    missing_score: str  # what the error for a missing entry named "score" matches

    def managed(self, obj: JSON) -> JSON:
        """The predict entry."""
        entry: JSON = obj["spec"][self.field][1]
        return entry


GATEWAY_API = Routes(
    name="gatewayAPI", field="rules", backends_key="backendRefs", mirrors_key="filters",
    router=http_route_router, obj=route, default_index=1,
    foreign_mirrors=[HEADER_FILTER, FOREIGN_FILTER], backend=ref,
    stable=lambda weight: ref("fraud-stable", weight), mirror=mirror_filter,
    missing_score=r"rule 'score' not found in HTTPRoute ml/web")
ISTIO = Routes(
    name="istio", field="http", backends_key="route", mirrors_key="mirrors",
    router=virtual_service_router, obj=virtual_service, default_index=0,
    foreign_mirrors=[FOREIGN_MIRROR], backend=dest,
    stable=lambda weight: {**dest("fraud-stable", weight), "headers": STABLE_HEADERS},
    mirror=mirror, missing_score=r"http route 'score' not found in VirtualService ml/web")
ROUTES = [GATEWAY_API, ISTIO]
