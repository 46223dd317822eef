"""The router registry: kinds to factories."""

from __future__ import annotations

import pytest
from kubernetes import client

from controller.api.spec import ModelRolloutSpec
from controller.operator.settings import OperatorSettings
from controller.traffic import registry
from controller.traffic.base import RouterContext, RouterError, TrafficRouter
from controller.traffic.builtin import BuiltinTrafficRouter
from controller.traffic.gatewayapi import HTTPRouteRouter
from controller.traffic.istio import VirtualServiceRouter
from tests.doubles import RecordingRouter

pytestmark = pytest.mark.unit
CONTEXT = RouterContext(client.ApiClient(), OperatorSettings())


def spec(**routing: object) -> ModelRolloutSpec:
    return ModelRolloutSpec.model_validate({
        "port": 8080, "template": {"spec": {"containers": [{"name": "m", "image": "m:1"}]}},
        "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
        "trafficRouting": routing,
    })


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))


def test_registered_kinds() -> None:
    assert set(registry.kinds()) == {"builtin", "gatewayAPI", "istio"}


def test_router_for_follows_the_spec() -> None:
    gateway = spec(gatewayAPI={"httpRoute": "web"})
    mesh = spec(istio={"virtualService": "web", "routeName": "predict"})
    assert isinstance(registry.router_for(CONTEXT, gateway), HTTPRouteRouter)
    assert isinstance(registry.router_for(CONTEXT, mesh), VirtualServiceRouter)
    assert isinstance(registry.router_for(CONTEXT, spec()), BuiltinTrafficRouter)


def test_an_unregistered_kind_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="no traffic router registered for 'linkerd'"):
        registry.create("linkerd", CONTEXT, spec())


def test_register_adds_a_kind_once() -> None:
    def factory(context: RouterContext, rollout_spec: ModelRolloutSpec) -> TrafficRouter:
        return RecordingRouter()

    registry.register("test-kind", factory)
    assert isinstance(registry.create("test-kind", CONTEXT, spec()), RecordingRouter)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("test-kind", factory)
    registry.register("test-kind", factory, replace=True)


def test_a_factory_needs_its_own_section() -> None:
    with pytest.raises(RouterError, match="gatewayAPI is not set"):
        registry.create("gatewayAPI", CONTEXT, spec())
    with pytest.raises(RouterError, match="istio is not set"):
        registry.create("istio", CONTEXT, spec())
