"""The istio router against a real VirtualService (published CRD) in the local control plane."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.api.spec import IstioRouter
from controller.rollout.ref import RolloutRef
from controller.rollout.split import Mirror, TrafficSplit
from controller.traffic import managed
from controller.traffic.base import RouterError
from controller.traffic.istio import VIRTUALSERVICE, VirtualServiceRouter
from tests.integration.traffic.kube import (
    GITOPS_MANAGER,
    get,
    gitops_apply,
    hand_edit,
    operator_owns_only,
    owned_fields,
)

pytestmark = pytest.mark.integration

PORT = 8080
SHADOW_V3 = RolloutRef("fraud", "any", "uid-1", PORT).shadow_service("v3")
AUDIT_MIRROR = {"destination": {"host": "audit.tools.svc.cluster.local"},
                "percentage": {"value": 1.5}}


def manifest(namespace: str) -> dict[str, Any]:
    """What Git holds: a health route first, then the model's route."""
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"team": "risk"},
                     "annotations": {"argocd.argoproj.io/tracking-id": "fraud:web"}},
        "spec": {
            "hosts": ["fraud.example.com"], "gateways": ["edge"],
            "http": [
                {"name": "health", "match": [{"uri": {"exact": "/healthz"}}],
                 "route": [{"destination": {"host": "health"}}]},
                {"name": "predict", "match": [{"uri": {"prefix": "/predict"}}],
                 "retries": {"attempts": 2, "perTryTimeout": "2s"}, "timeout": "5s",
                 "mirrors": [AUDIT_MIRROR],
                 "route": [{"destination": {"host": "fraud-stable"}}]},
            ],
        },
    }


@pytest.fixture
def rollout(namespace: str) -> RolloutRef:
    return RolloutRef(name="fraud", namespace=namespace, uid="uid-1", port=PORT)


@pytest.fixture
def service(traffic_crds: client.ApiClient, namespace: str) -> dict[str, Any]:
    gitops_apply(traffic_crds, VIRTUALSERVICE, manifest(namespace))
    return get(traffic_crds, VIRTUALSERVICE, namespace, "web")


def router(api: client.ApiClient, route_name: str | None = "predict",
           virtual_service: str = "web") -> VirtualServiceRouter:
    return VirtualServiceRouter(api, IstioRouter(virtual_service=virtual_service,
                                                 route_name=route_name))


def dest(host: str, weight: int) -> dict[str, Any]:
    return {"destination": {"host": host, "port": {"number": PORT}}, "weight": weight}


def mirror(host: str, percent: int) -> dict[str, Any]:
    return {"destination": {"host": host, "port": {"number": PORT}},
            "percentage": {"value": percent}}


def predict_route(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    route: dict[str, Any] = get(api, VIRTUALSERVICE, namespace, "web")["spec"]["http"][1]
    return route


SPLITS = [
    (TrafficSplit("r1", "r2", 10), [dest("fraud-stable", 90), dest("fraud-candidate", 10)], []),
    (TrafficSplit("r1", "r2", 0, mirrors=(Mirror("candidate", "r2", 20),)),
     [dest("fraud-stable", 100), dest("fraud-candidate", 0)], [mirror("fraud-candidate", 20)]),
    (TrafficSplit("r1", "r2", 50, mirrors=(Mirror("candidate", "r2", 5),
                                           Mirror("v3", "s3", 100))),
     [dest("fraud-stable", 50), dest("fraud-candidate", 50)],
     [mirror("fraud-candidate", 5), mirror(SHADOW_V3, 100)]),
    (TrafficSplit("r1", "r2", 100),
     [dest("fraud-stable", 0), dest("fraud-candidate", 100)], []),
    (TrafficSplit("r2", mirrors=(Mirror("v3", "s3", 7),)),
     [dest("fraud-stable", 100)], [mirror(SHADOW_V3, 7)]),
]


def test_weights_and_mirrors_at_several_splits(traffic_crds: client.ApiClient,
                                               service: dict[str, Any],
                                               rollout: RolloutRef) -> None:
    routes = router(traffic_crds)
    for split, destinations, mirrors in SPLITS:
        routes.apply(rollout, split)
        route = predict_route(traffic_crds, rollout.namespace)
        assert route["route"] == destinations, split
        assert route["mirrors"] == [AUDIT_MIRROR, *mirrors], split
        assert routes.verify(rollout, split)


def test_default_route_is_the_first(traffic_crds: client.ApiClient, service: dict[str, Any],
                                    rollout: RolloutRef) -> None:
    router(traffic_crds, route_name=None).apply(rollout, TrafficSplit("r1", "r2", 25))
    after = get(traffic_crds, VIRTUALSERVICE, rollout.namespace, "web")
    assert after["spec"]["http"][0]["route"] == [dest("fraud-stable", 75),
                                                 dest("fraud-candidate", 25)]
    assert after["spec"]["http"][1] == service["spec"]["http"][1]


def test_unrelated_routes_fields_and_other_managers_are_left_alone(
        traffic_crds: client.ApiClient, service: dict[str, Any], rollout: RolloutRef) -> None:
    router(traffic_crds).apply(rollout, TrafficSplit(
        "r1", "r2", 30, mirrors=(Mirror("candidate", "r2", 10),)))
    after = get(traffic_crds, VIRTUALSERVICE, rollout.namespace, "web")
    assert after["spec"]["http"][0] == service["spec"]["http"][0]
    for key in ("hosts", "gateways"):
        assert after["spec"][key] == service["spec"][key]
    for key in ("labels", "annotations"):
        assert after["metadata"][key] == service["metadata"][key]
    route, before = after["spec"]["http"][1], service["spec"]["http"][1]
    for key in ("name", "match", "retries", "timeout"):
        assert route[key] == before[key]
    assert operator_owns_only(after, "http")
    gitops = owned_fields(after, GITOPS_MANAGER)
    assert {"f:labels", "f:annotations"} <= set(gitops["f:metadata"])
    assert {"f:hosts", "f:gateways"} <= set(gitops["f:spec"])


def test_verify_sees_someone_elses_edit_and_apply_repairs_it(traffic_crds: client.ApiClient,
                                                             service: dict[str, Any],
                                                             rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 20, mirrors=(Mirror("candidate", "r2", 5),))
    routes = router(traffic_crds)
    routes.apply(rollout, split)
    assert routes.verify(rollout, split)
    http = get(traffic_crds, VIRTUALSERVICE, rollout.namespace, "web")["spec"]["http"]
    http[1]["mirrors"][1]["percentage"]["value"] = 50
    hand_edit(traffic_crds, VIRTUALSERVICE, rollout.namespace, "web", {"spec": {"http": http}})
    assert not routes.verify(rollout, split)
    routes.apply(rollout, split)
    assert routes.verify(rollout, split)


def test_remove_returns_everything_to_stable(traffic_crds: client.ApiClient,
                                             service: dict[str, Any],
                                             rollout: RolloutRef) -> None:
    routes = router(traffic_crds)
    routes.apply(rollout, TrafficSplit("r1", "r2", 60, mirrors=(
        Mirror("candidate", "r2", 10), Mirror("v3", "s3", 50))))
    routes.remove(rollout)
    route = predict_route(traffic_crds, rollout.namespace)
    assert route["route"] == [dest("fraud-stable", 100)]
    assert route["mirrors"] == [AUDIT_MIRROR]
    assert routes.verify(rollout, TrafficSplit("r1"))
    routes.remove(rollout)
    router(traffic_crds, virtual_service="gone").remove(rollout)


def test_missing_object_route_and_legacy_mirror_are_router_errors(
        traffic_crds: client.ApiClient, service: dict[str, Any], rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 10, mirrors=(Mirror("candidate", "r2", 5),))
    ns = rollout.namespace
    with pytest.raises(RouterError, match=rf"^VirtualService {ns}/gone not found$"):
        router(traffic_crds, virtual_service="gone").apply(rollout, split)
    with pytest.raises(RouterError, match=rf"http route 'score' not found in VirtualService {ns}"):
        router(traffic_crds, route_name="score").apply(rollout, split)
    legacy = manifest(ns)
    legacy["spec"]["http"][1].pop("mirrors")
    legacy["spec"]["http"][1]["mirror"] = {"host": "audit"}
    gitops_apply(traffic_crds, VIRTUALSERVICE, legacy)
    with pytest.raises(RouterError, match="legacy `mirror`"):
        router(traffic_crds).apply(rollout, split)


def test_apply_is_idempotent_down_to_the_resource_version(traffic_crds: client.ApiClient,
                                                          service: dict[str, Any],
                                                          rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 35, mirrors=(Mirror("candidate", "r2", 15),))
    routes = router(traffic_crds)
    routes.apply(rollout, split)
    first = get(traffic_crds, VIRTUALSERVICE, rollout.namespace, "web")
    routes.apply(rollout, split)
    second = get(traffic_crds, VIRTUALSERVICE, rollout.namespace, "web")
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    managed._apply(traffic_crds, VIRTUALSERVICE, second, "http", second["spec"]["http"])
    third = get(traffic_crds, VIRTUALSERVICE, rollout.namespace, "web")
    assert third["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
