"""The istio router: destination weights and mirrors of one VirtualService http route.

The managed route's `route` becomes exactly [stable, candidate] destinations (short host names,
same namespace; the candidate only while a candidate revision exists, at weight 0 included),
weights summing to 100. Mirrors use the `mirrors` list (Istio 1.19+), which holds several targets
(candidate and shadows) where the older `mirror` + `mirrorPercentage` holds one; entries to the
candidate or a shadow of this rollout are ours, every other entry and field is carried over.
"""

from __future__ import annotations

import copy

from kubernetes import client

from controller.api import spec
from controller.operator.settings import OperatorSettings
from controller.rollout.ref import RolloutRef
from controller.rollout.split import TrafficSplit
from controller.traffic.base import RouterError
from controller.traffic.managed import (
    JSON,
    ManagedRouteRouter,
    Resource,
    backends,
    is_managed_mirror,
    mirror_targets,
)

VIRTUALSERVICE = Resource("networking.istio.io", "v1", "virtualservices", "VirtualService")
_LOCAL_SUFFIXES = ((), ("svc",), ("svc", "cluster", "local"))


def _describe(service: JSON) -> str:
    metadata = service.get("metadata", {})
    return VIRTUALSERVICE.describe(metadata.get("namespace", ""), metadata.get("name", ""))


def local_service(host: object, namespace: str) -> str | None:
    """The Service a destination host names in `namespace`: `svc`, `svc.ns`, `svc.ns.svc`,
    or `svc.ns.svc.cluster.local`; None for other namespaces and external hosts."""
    if not isinstance(host, str) or not host:
        return None
    name, *rest = host.split(".")
    if not rest:
        return name
    if rest[0] == namespace and tuple(rest[1:]) in _LOCAL_SUFFIXES:
        return name
    return None


def find_route(service: JSON, route_name: str | None) -> int | None:
    """Index of the http route named `route_name`, else of the first http route."""
    routes: list[JSON] = service.get("spec", {}).get("http") or []
    if route_name is None:
        return 0 if routes else None
    return next((i for i, route in enumerate(routes) if route.get("name") == route_name), None)


def _destination(existing: JSON | None, host: str, port: int, weight: int) -> JSON:
    # Keep what else sits on the entry (its `headers`); the destination itself is ours: a
    # subset would pin a revision that the Service already selects.
    entry = dict(existing or {})
    entry.update(destination={"host": host, "port": {"number": port}}, weight=weight)
    return entry


def _mirror(host: str, port: int, percent: int) -> JSON:
    # percentage.value is a double in Istio's API; an integer is a valid JSON number for it
    # and reads back unchanged, so verify compares like with like.
    return {"destination": {"host": host, "port": {"number": port}},
            "percentage": {"value": percent}}


def _is_ours(rollout: RolloutRef, entry: JSON) -> bool:
    host = (entry.get("destination") or {}).get("host")
    service = local_service(host, rollout.namespace)
    return service is not None and is_managed_mirror(rollout, service)


def rewrite_route(route: JSON, rollout: RolloutRef, split: TrafficSplit | None,
                  described: str = "the VirtualService") -> JSON:
    """The http route with our destinations and mirrors for `split` (None: stable only)."""
    new = copy.deepcopy(route)
    existing: dict[str, JSON] = {}
    for entry in route.get("route") or []:
        service = local_service((entry.get("destination") or {}).get("host"), rollout.namespace)
        if service is not None:
            existing.setdefault(service, entry)
    new["route"] = [_destination(existing.get(service), service, rollout.port, weight)
                    for service, weight in backends(rollout, split)]
    ours = [_mirror(service, rollout.port, percent)
            for service, percent in mirror_targets(rollout, split)]
    if ours and route.get("mirror"):
        # Istio rejects a route that holds both forms; the legacy one is the user's to migrate.
        raise RouterError(f"http route {route.get('name', '#0')!r} of {described} uses the legacy"
                          " `mirror` field; move it to `mirrors` so that mirrors can be added")
    mirrors = [copy.deepcopy(m) for m in route.get("mirrors") or [] if not _is_ours(rollout, m)]
    mirrors += ours
    if mirrors:
        new["mirrors"] = mirrors
    else:
        new.pop("mirrors", None)
    return new


def _replace_route(service: JSON, index: int, route: JSON) -> JSON:
    new = copy.deepcopy(service)
    new["spec"]["http"][index] = route
    return new


def service_with_split(service: JSON, rollout: RolloutRef, split: TrafficSplit,
                       route_name: str | None) -> JSON:
    """The whole VirtualService with the managed route holding `split`; RouterError if none."""
    index = find_route(service, route_name)
    if index is None:
        if route_name is not None:
            raise RouterError(f"http route {route_name!r} not found in {_describe(service)}")
        raise RouterError(f"{_describe(service)} has no http route")
    route = rewrite_route(service["spec"]["http"][index], rollout, split, _describe(service))
    return _replace_route(service, index, route)


def service_released(service: JSON, rollout: RolloutRef, route_name: str | None) -> JSON:
    """The VirtualService with the managed route sending 100% to stable, none of our mirrors."""
    index = find_route(service, route_name)
    if index is None:
        return service  # nothing of ours to undo
    route = rewrite_route(service["spec"]["http"][index], rollout, None, _describe(service))
    return _replace_route(service, index, route)


class VirtualServiceRouter(ManagedRouteRouter):
    resource = VIRTUALSERVICE
    field = "http"

    def __init__(self, api: client.ApiClient, config: spec.IstioRouter) -> None:
        super().__init__(api, config.virtual_service)
        self._route_name = config.route_name

    def with_split(self, obj: JSON, rollout: RolloutRef, split: TrafficSplit) -> JSON:
        return service_with_split(obj, rollout, split, self._route_name)

    def released(self, obj: JSON, rollout: RolloutRef) -> JSON:
        return service_released(obj, rollout, self._route_name)


def from_routing(api: client.ApiClient, routing: spec.TrafficRouting,
                 settings: OperatorSettings) -> VirtualServiceRouter:
    if routing.istio is None:
        raise RouterError("trafficRouting.istio is not set")
    return VirtualServiceRouter(api, routing.istio)
