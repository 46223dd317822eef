"""The gatewayAPI router: weights and RequestMirror filters of one HTTPRoute rule.

The managed rule's backendRefs become exactly [stable, candidate] (the candidate only while a
candidate revision exists, at weight 0 included); our RequestMirror filters (to the candidate or a
shadow of this rollout) are rebuilt, one per mirror above 0%. Every other rule, filter, match and
field is carried over as read. The pure functions below do the rewriting; the router applies the
result with server-side apply (see managed.py for why the whole `spec.rules` list is applied).
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

HTTPROUTE = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")
REQUEST_MIRROR = "RequestMirror"


def _describe(route: JSON) -> str:
    metadata = route.get("metadata", {})
    return HTTPROUTE.describe(metadata.get("namespace", ""), metadata.get("name", ""))


def _local_service(ref: JSON, namespace: str) -> str | None:
    """The Service name a backendRef points at, if it is a Service in `namespace`."""
    if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
        return None
    if ref.get("namespace", namespace) != namespace:
        return None
    name = ref.get("name")
    return name if isinstance(name, str) else None


def find_rule(route: JSON, rollout: RolloutRef, rule_name: str | None) -> int | None:
    """Index of the rule named `rule_name`, else of the first rule sending to stable."""
    rules: list[JSON] = route.get("spec", {}).get("rules") or []
    for index, rule in enumerate(rules):
        if rule_name is not None:
            if rule.get("name") == rule_name:
                return index
        elif any(_local_service(ref, rollout.namespace) == rollout.stable_service
                 for ref in rule.get("backendRefs") or []):
            return index
    return None


def _backend_ref(existing: JSON | None, service: str, port: int, weight: int) -> JSON:
    # Keep what else the user put on the reference (its filters); group and kind are spelled
    # out as the CRD defaults them, so that what we write reads back identical.
    ref = dict(existing or {})
    ref.update(group="", kind="Service", name=service, port=port, weight=weight)
    return ref


def _mirror_filter(service: str, port: int, percent: int) -> JSON:
    return {"type": REQUEST_MIRROR, "requestMirror": {
        "backendRef": {"group": "", "kind": "Service", "name": service, "port": port},
        "percent": percent,
    }}


def _is_our_filter(rollout: RolloutRef, rule_filter: JSON) -> bool:
    if rule_filter.get("type") != REQUEST_MIRROR:
        return False
    ref = (rule_filter.get("requestMirror") or {}).get("backendRef") or {}
    service = _local_service(ref, rollout.namespace)
    return service is not None and is_managed_mirror(rollout, service)


def rewrite_rule(rule: JSON, rollout: RolloutRef, split: TrafficSplit | None) -> JSON:
    """The rule with our backends and mirrors for `split` (None: stable only, no mirrors)."""
    new = copy.deepcopy(rule)
    existing: dict[str, JSON] = {}
    for ref in rule.get("backendRefs") or []:
        service = _local_service(ref, rollout.namespace)
        if service is not None:
            existing.setdefault(service, ref)
    new["backendRefs"] = [_backend_ref(existing.get(service), service, rollout.port, weight)
                          for service, weight in backends(rollout, split)]
    filters = [copy.deepcopy(f) for f in rule.get("filters") or []
               if not _is_our_filter(rollout, f)]
    filters += [_mirror_filter(service, rollout.port, percent)
                for service, percent in mirror_targets(rollout, split)]
    if filters:
        new["filters"] = filters
    else:
        new.pop("filters", None)
    return new


def _replace_rule(route: JSON, index: int, rule: JSON) -> JSON:
    new = copy.deepcopy(route)
    new["spec"]["rules"][index] = rule
    return new


def route_with_split(route: JSON, rollout: RolloutRef, split: TrafficSplit,
                     rule_name: str | None) -> JSON:
    """The whole route with the managed rule holding `split`; RouterError if there is none."""
    index = find_rule(route, rollout, rule_name)
    if index is None:
        if rule_name is not None:
            raise RouterError(f"rule {rule_name!r} not found in {_describe(route)}")
        raise RouterError(f"no rule of {_describe(route)} has a backendRef to Service "
                          f"{rollout.stable_service}: add one or set ruleName")
    return _replace_rule(route, index, rewrite_rule(route["spec"]["rules"][index], rollout, split))


def route_released(route: JSON, rollout: RolloutRef, rule_name: str | None) -> JSON:
    """The route with the managed rule sending 100% to stable and none of our mirrors."""
    index = find_rule(route, rollout, rule_name)
    if index is None:
        return route  # nothing of ours to undo
    return _replace_rule(route, index, rewrite_rule(route["spec"]["rules"][index], rollout, None))


class HTTPRouteRouter(ManagedRouteRouter):
    resource = HTTPROUTE
    field = "rules"

    def __init__(self, api: client.ApiClient, config: spec.GatewayAPIRouter) -> None:
        super().__init__(api, config.http_route)
        self._rule_name = config.rule_name

    def with_split(self, obj: JSON, rollout: RolloutRef, split: TrafficSplit) -> JSON:
        return route_with_split(obj, rollout, split, self._rule_name)

    def released(self, obj: JSON, rollout: RolloutRef) -> JSON:
        return route_released(obj, rollout, self._rule_name)


def from_routing(api: client.ApiClient, routing: spec.TrafficRouting,
                 settings: OperatorSettings) -> HTTPRouteRouter:
    if routing.gateway_api is None:
        raise RouterError("trafficRouting.gatewayAPI is not set")
    return HTTPRouteRouter(api, routing.gateway_api)

