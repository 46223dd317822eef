"""One registry from router kind to factory: the operator asks it for the router a spec names.

Registered here: builtin (the default), gatewayAPI, istio.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.api.spec import ModelRolloutSpec
from controller.traffic import builtin, gatewayapi, istio
from controller.traffic.base import RouterContext, TrafficRouter

RouterFactory = Callable[[RouterContext, ModelRolloutSpec], TrafficRouter]

_FACTORIES: dict[str, RouterFactory] = {}


def register(kind: str, factory: RouterFactory, *, replace: bool = False) -> None:
    """Add a router kind; registering a kind twice is a bug unless `replace` says otherwise."""
    if kind in _FACTORIES and not replace:
        raise ValueError(f"traffic router {kind!r} is already registered")
    _FACTORIES[kind] = factory


def kinds() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


def create(kind: str, context: RouterContext, spec: ModelRolloutSpec) -> TrafficRouter:
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise NotImplementedError(
            f"no traffic router registered for {kind!r} (registered: {', '.join(kinds())})")
    return factory(context, spec)


def router_for(context: RouterContext, spec: ModelRolloutSpec) -> TrafficRouter:
    """The router that `spec.trafficRouting` selects."""
    return create(spec.traffic_routing.kind, context, spec)


register("builtin", builtin.from_spec)
register("gatewayAPI", gatewayapi.from_spec)
register("istio", istio.from_spec)
