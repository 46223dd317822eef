"""The router registry: kinds to factories."""

from __future__ import annotations

import pytest
from kubernetes import client

from controller.api.spec import (
    BuiltinRouter,
    GatewayAPIRouter,
    IstioRouter,
    TrafficRouting,
)
from controller.operator.settings import OperatorSettings
from controller.traffic import registry
from controller.traffic.base import RouterError, TrafficRouter
from controller.traffic.gatewayapi import HTTPRouteRouter
from controller.traffic.istio import VirtualServiceRouter
from tests.doubles import RecordingRouter

pytestmark = pytest.mark.unit
SETTINGS = OperatorSettings()


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))


def test_registered_kinds() -> None:
    assert set(registry.kinds()) == {"builtin", "gatewayAPI", "istio"}


def test_router_for_follows_the_spec() -> None:
    api = client.ApiClient()
    gateway = TrafficRouting(gateway_api=GatewayAPIRouter(http_route="web"))
    mesh = TrafficRouting(istio=IstioRouter(virtual_service="web", route_name="predict"))
    assert isinstance(registry.router_for(api, gateway, SETTINGS), HTTPRouteRouter)
    assert isinstance(registry.router_for(api, mesh, SETTINGS), VirtualServiceRouter)


def test_an_unregistered_kind_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="no traffic router registered for 'linkerd'"):
        registry.create("linkerd", client.ApiClient(), TrafficRouting(), SETTINGS)


def test_register_adds_a_kind_once() -> None:
    def factory(api: client.ApiClient, routing: TrafficRouting,
                settings: OperatorSettings) -> TrafficRouter:
        return RecordingRouter()

    registry.register("test-kind", factory)
    assert isinstance(registry.create("test-kind", client.ApiClient(), TrafficRouting(),
                                      SETTINGS), RecordingRouter)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("test-kind", factory)
    registry.register("test-kind", factory, replace=True)


def test_a_factory_needs_its_own_section() -> None:
    with pytest.raises(RouterError, match="gatewayAPI is not set"):
        registry.create("gatewayAPI", client.ApiClient(),
                        TrafficRouting(builtin=BuiltinRouter()), SETTINGS)
    with pytest.raises(RouterError, match="istio is not set"):
        registry.create("istio", client.ApiClient(),
                        TrafficRouting(builtin=BuiltinRouter()), SETTINGS)
