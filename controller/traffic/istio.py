"""The istio router: destination weights and mirrors of one VirtualService http route.

The managed route's `route` becomes exactly [stable, candidate] destinations (short host names,
same namespace; the candidate only while a candidate revision exists, at weight 0 included),
weights summing to 100. Mirrors use the `mirrors` list (Istio 1.19+), which holds several targets
(candidate and shadows) where the older `mirror` + `mirrorPercentage` holds one; entries to the
candidate or a shadow of this rollout are ours, every other entry and field is carried over.
ManagedRouteRouter (managed.py) does the rewriting and the applying; this module says how a
VirtualService spells its routes, destinations and mirrors.
"""

from __future__ import annotations

from kubernetes import client

from controller.api import spec
from controller.api.routing import IstioRouter
from controller.rollout.ref import RolloutRef
from controller.traffic.base import RouterContext, RouterError
from controller.traffic.managed import JSON, ManagedRouteRouter, Resource

VIRTUALSERVICE = Resource("networking.istio.io", "v1", "virtualservices", "VirtualService")
_LOCAL_SUFFIXES = ((), ("svc",), ("svc", "cluster", "local"))


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


def _destination(host: str, port: int) -> JSON:
    return {"host": host, "port": {"number": port}}


class VirtualServiceRouter(ManagedRouteRouter):
    resource = VIRTUALSERVICE
    field = "http"
    entry_kind = "http route"
    backends_key = "route"
    mirrors_key = "mirrors"

    def __init__(self, api: client.ApiClient, config: IstioRouter) -> None:
        super().__init__(api, config.virtual_service, config.route_name)

    def default_entry(self, entries: list[JSON], rollout: RolloutRef) -> int | None:
        """The first http route."""
        return 0 if entries else None

    def missing_default(self, rollout: RolloutRef, described: str) -> str:
        return f"{described} has no http route"

    def backend_service(self, backend: JSON, namespace: str) -> str | None:
        return local_service((backend.get("destination") or {}).get("host"), namespace)

    def backend(self, existing: JSON | None, service: str, port: int, weight: int) -> JSON:
        # Keep what else sits on the entry (its `headers`); the destination itself is ours: a
        # subset would pin a revision that the Service already selects.
        entry = dict(existing or {})
        entry.update(destination=_destination(service, port), weight=weight)
        return entry

    def mirror_service(self, item: JSON, namespace: str) -> str | None:
        return self.backend_service(item, namespace)  # a mirror names its destination alike

    def mirror(self, service: str, port: int, percent: int) -> JSON:
        # percentage.value is a double in Istio's API; an integer is a valid JSON number for it
        # and reads back unchanged, so verify compares like with like.
        return {"destination": _destination(service, port), "percentage": {"value": percent}}

    def check_mirrors(self, entry: JSON, ours: list[JSON], described: str) -> None:
        if ours and entry.get("mirror"):
            # Istio rejects a route that holds both forms; the legacy one is the user's to migrate.
            raise RouterError(f"http route {entry.get('name', '#0')!r} of {described} uses the"
                              " legacy `mirror` field; move it to `mirrors` so that mirrors can"
                              " be added")


def from_spec(context: RouterContext, rollout_spec: spec.ModelRolloutSpec) -> VirtualServiceRouter:
    routing = rollout_spec.traffic_routing
    if routing.istio is None:
        raise RouterError("trafficRouting.istio is not set")
    return VirtualServiceRouter(context.api, routing.istio)
