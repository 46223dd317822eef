"""The gatewayAPI router: weights and RequestMirror filters of one HTTPRoute rule.

The managed rule's backendRefs become exactly [stable, candidate] (the candidate only while a
candidate revision exists, at weight 0 included); our RequestMirror filters (to the candidate or a
shadow of this rollout) are rebuilt, one per mirror above 0%. Every other rule, filter, match and
field is carried over as read. ManagedRouteRouter (managed.py) does the rewriting and applies the
result with server-side apply (see there for why the whole `spec.rules` list is applied); this
module says how an HTTPRoute spells its rules, backends and mirrors.
"""

from __future__ import annotations

from kubernetes import client

from controller.api import spec
from controller.api.routing import GatewayAPIRouter
from controller.rollout.ref import RolloutRef
from controller.traffic.base import RouterContext, RouterError
from controller.traffic.managed import JSON, ManagedRouteRouter, Resource

HTTPROUTE = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")
REQUEST_MIRROR = "RequestMirror"


def _local_service(ref: JSON, namespace: str) -> str | None:
    """The Service name a backendRef points at, if it is a Service in `namespace`."""
    if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
        return None
    if ref.get("namespace", namespace) != namespace:
        return None
    name = ref.get("name")
    return name if isinstance(name, str) else None


class HTTPRouteRouter(ManagedRouteRouter):
    resource = HTTPROUTE
    field = "rules"
    entry_kind = "rule"
    backends_key = "backendRefs"
    mirrors_key = "filters"

    def __init__(self, api: client.ApiClient, config: GatewayAPIRouter) -> None:
        super().__init__(api, config.http_route, config.rule_name)

    def default_entry(self, entries: list[JSON], rollout: RolloutRef) -> int | None:
        """The first rule sending to the stable Service."""
        return next((index for index, rule in enumerate(entries)
                     if any(_local_service(ref, rollout.namespace) == rollout.stable_service
                            for ref in rule.get("backendRefs") or [])), None)

    def missing_default(self, rollout: RolloutRef, described: str) -> str:
        return (f"no rule of {described} has a backendRef to Service "
                f"{rollout.stable_service}: add one or set ruleName")

    def backend_service(self, backend: JSON, namespace: str) -> str | None:
        return _local_service(backend, namespace)

    def backend(self, existing: JSON | None, service: str, port: int, weight: int) -> JSON:
        # Keep what else the user put on the reference (its filters); group and kind are spelled
        # out as the CRD defaults them, so that what we write reads back identical.
        ref = dict(existing or {})
        ref.update(group="", kind="Service", name=service, port=port, weight=weight)
        return ref

    def mirror_service(self, item: JSON, namespace: str) -> str | None:
        if item.get("type") != REQUEST_MIRROR:
            return None
        return _local_service((item.get("requestMirror") or {}).get("backendRef") or {},
                              namespace)

    def mirror(self, service: str, port: int, percent: int) -> JSON:
        return {"type": REQUEST_MIRROR, "requestMirror": {
            "backendRef": {"group": "", "kind": "Service", "name": service, "port": port},
            "percent": percent,
        }}


def from_spec(context: RouterContext, rollout_spec: spec.ModelRolloutSpec) -> HTTPRouteRouter:
    routing = rollout_spec.traffic_routing
    if routing.gateway_api is None:
        raise RouterError("trafficRouting.gatewayAPI is not set")
    return HTTPRouteRouter(context.api, routing.gateway_api)
