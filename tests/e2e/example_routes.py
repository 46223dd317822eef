"""The user's own routes for the Gateway API and Istio examples (the examples manage one entry
of an existing object), and a recorder of every weight the operator writes into them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client, watch

from controller.traffic.gatewayapi import HTTPROUTE
from controller.traffic.istio import VIRTUALSERVICE
from controller.traffic.managed import Resource
from tests.e2e.example_traffic import route_weights

JSON = dict[str, Any]


@dataclass(frozen=True)
class MeshRoute:
    resource: Resource
    field: str  # spec.<field>: the entries
    entry: str  # the managed entry's name, as the example names it
    backends_key: str
    host: Callable[[JSON], str]  # a backend's Service
    mirrors: Callable[[JSON, str], int]  # the managed entry's mirror percent to a Service

    def weights(self, obj: JSON | None) -> dict[str, int]:
        return route_weights(obj, self.field, self.entry, self.backends_key, self.host)

    def entry_of(self, obj: JSON) -> JSON:
        return next(e for e in obj["spec"].get(self.field, []) if e.get("name") == self.entry)


def _gateway_mirror(entry: JSON, service: str) -> int:
    for item in entry.get("filters", []):
        mirror = item.get("requestMirror") or {}
        if (mirror.get("backendRef") or {}).get("name") == service:
            return int(mirror.get("percent", 100))
    return 0


def _istio_mirror(entry: JSON, service: str) -> int:
    for item in entry.get("mirrors", []):
        if (item.get("destination") or {}).get("host", "").split(".")[0] == service:
            return int((item.get("percentage") or {}).get("value", 100))
    return 0


def user_route(kind: str, manifest: JSON, namespace: str) -> tuple[MeshRoute, JSON]:
    """What the user has before applying the example: the route to the stable Service."""
    spec, name = manifest["spec"], manifest["metadata"]["name"]
    port, stable = spec["port"], f"{name}-stable"
    if kind == "gatewayAPI":
        config = spec["trafficRouting"]["gatewayAPI"]
        route = MeshRoute(HTTPROUTE, "rules", config["ruleName"], "backendRefs",
                          lambda b: str(b["name"]), _gateway_mirror)
        body = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": config["httpRoute"], "namespace": namespace},
                "spec": {"parentRefs": [{"name": "edge"}], "rules": [
                    {"name": config["ruleName"],
                     "matches": [{"path": {"type": "PathPrefix", "value": "/v1/models"}}],
                     "backendRefs": [{"name": stable, "port": port}]}]}}
        return route, body
    config = spec["trafficRouting"]["istio"]
    route = MeshRoute(VIRTUALSERVICE, "http", config["routeName"], "route",
                      lambda b: str(b["destination"]["host"]).split(".")[0], _istio_mirror)
    body = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": config["virtualService"], "namespace": namespace},
            "spec": {"hosts": [name], "http": [
                {"name": config["routeName"],
                 "route": [{"destination": {"host": stable, "port": {"number": port}}}]}]}}
    return route, body


class RouteRecorder:
    """Watches one HTTPRoute/VirtualService and keeps the candidate's (weight, mirror) per
    change; weight None: no candidate backend."""

    def __init__(self, api: client.ApiClient, route: MeshRoute, namespace: str, name: str,
                 candidate: str) -> None:
        self.objects = client.CustomObjectsApi(api)
        self.route, self.namespace, self.name, self.candidate = route, namespace, name, candidate
        self.seen: list[tuple[int | None, int]] = []
        self.latest: JSON | None = None
        self._lock = threading.Lock()
        self._watch = watch.Watch()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        resource = self.route.resource
        try:
            for event in self._watch.stream(
                    self.objects.list_namespaced_custom_object, resource.group, resource.version,
                    self.namespace, resource.plural, field_selector=f"metadata.name={self.name}",
                    timeout_seconds=900):
                if event["type"] in ("ADDED", "MODIFIED"):
                    self._record(event["object"])
        except Exception:  # the connection closes under us when the test stops watching
            if not self._stopped:
                raise

    def _record(self, obj: JSON) -> None:
        weights = self.route.weights(obj)
        seen = (weights.get(self.candidate), self.route.mirrors(self.route.entry_of(obj),
                                                                self.candidate))
        with self._lock:
            self.latest = obj
            if not self.seen or self.seen[-1] != seen:
                self.seen.append(seen)

    def current(self) -> dict[str, int]:
        with self._lock:
            return self.route.weights(self.latest)

    def candidate_weights(self) -> list[int | None]:
        with self._lock:
            weights: list[int | None] = []
            for weight, _ in self.seen:
                if not weights or weights[-1] != weight:
                    weights.append(weight)
            return weights

    def mirrors(self) -> list[int]:
        with self._lock:
            return [m for _, m in self.seen]

    def stop(self) -> None:
        self._stopped = True
        self._watch.stop()
