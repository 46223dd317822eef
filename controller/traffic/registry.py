"""One registry from router kind to factory: the operator asks it for the router a spec names.

Registered here: builtin (the default), gatewayAPI, istio.
"""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client

from controller.api.spec import TrafficRouting
from controller.operator.settings import OperatorSettings
from controller.traffic import builtin, gatewayapi, istio
from controller.traffic.base import TrafficRouter

RouterFactory = Callable[[client.ApiClient, TrafficRouting, OperatorSettings], TrafficRouter]

_FACTORIES: dict[str, RouterFactory] = {}


def register(kind: str, factory: RouterFactory, *, replace: bool = False) -> None:
    """Add a router kind; registering a kind twice is a bug unless `replace` says otherwise."""
    if kind in _FACTORIES and not replace:
        raise ValueError(f"traffic router {kind!r} is already registered")
    _FACTORIES[kind] = factory


def kinds() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


def create(kind: str, api: client.ApiClient, routing: TrafficRouting,
           settings: OperatorSettings) -> TrafficRouter:
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise NotImplementedError(
            f"no traffic router registered for {kind!r} (registered: {', '.join(kinds())})")
    return factory(api, routing, settings)


def router_for(api: client.ApiClient, routing: TrafficRouting,
               settings: OperatorSettings) -> TrafficRouter:
    """The router that `spec.trafficRouting` selects."""
    return create(routing.kind, api, routing, settings)


register("builtin", builtin.from_routing)
register("gatewayAPI", gatewayapi.from_routing)
register("istio", istio.from_routing)
