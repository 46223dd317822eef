"""The gatewayAPI router against a real HTTPRoute (published CRD) in the local control plane."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client

from controller.api.spec import GatewayAPIRouter
from controller.rollout.ref import RolloutRef
from controller.rollout.split import Mirror, TrafficSplit
from controller.traffic import managed
from controller.traffic.base import RouterError
from controller.traffic.gatewayapi import HTTPROUTE, HTTPRouteRouter
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
HEADER_FILTER = {"type": "RequestHeaderModifier",
                 "requestHeaderModifier": {"set": [{"name": "x-team", "value": "risk"}]}}
AUDIT_MIRROR = {"type": "RequestMirror", "requestMirror": {
    "backendRef": {"group": "", "kind": "Service", "name": "audit", "port": 9000},
    "percent": 1}}


def manifest(namespace: str) -> dict[str, Any]:
    """What Git holds: two rules, the second one sends to the stable Service."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"team": "risk"},
                     "annotations": {"argocd.argoproj.io/tracking-id": "fraud:web"}},
        "spec": {
            "parentRefs": [{"name": "edge"}],
            "hostnames": ["fraud.example.com"],
            "rules": [
                {"name": "health", "matches": [{"path": {"type": "Exact", "value": "/healthz"}}],
                 "backendRefs": [{"name": "health", "port": 80}]},
                {"name": "predict",
                 "matches": [{"path": {"type": "PathPrefix", "value": "/predict"}}],
                 "filters": [HEADER_FILTER, AUDIT_MIRROR],
                 "backendRefs": [{"name": "fraud-stable", "port": PORT}]},
            ],
        },
    }


@pytest.fixture
def rollout(namespace: str) -> RolloutRef:
    return RolloutRef(name="fraud", namespace=namespace, uid="uid-1", port=PORT)


@pytest.fixture
def route(traffic_crds: client.ApiClient, namespace: str) -> dict[str, Any]:
    gitops_apply(traffic_crds, HTTPROUTE, manifest(namespace))
    return get(traffic_crds, HTTPROUTE, namespace, "web")


def router(api: client.ApiClient, rule_name: str | None = "predict",
           http_route: str = "web") -> HTTPRouteRouter:
    return HTTPRouteRouter(api, GatewayAPIRouter(http_route=http_route, rule_name=rule_name))


def ref(name: str, weight: int) -> dict[str, Any]:
    return {"group": "", "kind": "Service", "name": name, "port": PORT, "weight": weight}


def mirror(name: str, percent: int) -> dict[str, Any]:
    return {"type": "RequestMirror", "requestMirror": {
        "backendRef": {"group": "", "kind": "Service", "name": name, "port": PORT},
        "percent": percent}}


def predict_rule(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    rule: dict[str, Any] = get(api, HTTPROUTE, namespace, "web")["spec"]["rules"][1]
    return rule


SPLITS = [
    (TrafficSplit("r1", "r2", 10),
     [ref("fraud-stable", 90), ref("fraud-candidate", 10)], []),
    (TrafficSplit("r1", "r2", 0, mirrors=(Mirror("candidate", "r2", 20),)),
     [ref("fraud-stable", 100), ref("fraud-candidate", 0)], [mirror("fraud-candidate", 20)]),
    (TrafficSplit("r1", "r2", 50, mirrors=(Mirror("candidate", "r2", 5),
                                           Mirror("v3", "s3", 100))),
     [ref("fraud-stable", 50), ref("fraud-candidate", 50)],
     [mirror("fraud-candidate", 5), mirror(SHADOW_V3, 100)]),
    (TrafficSplit("r1", "r2", 100), [ref("fraud-stable", 0), ref("fraud-candidate", 100)], []),
    (TrafficSplit("r2", mirrors=(Mirror("v3", "s3", 7),)),
     [ref("fraud-stable", 100)], [mirror(SHADOW_V3, 7)]),
]


def test_weights_and_mirrors_at_several_splits(traffic_crds: client.ApiClient,
                                               route: dict[str, Any],
                                               rollout: RolloutRef) -> None:
    routes = router(traffic_crds)
    for split, backend_refs, mirrors in SPLITS:
        routes.apply(rollout, split)
        rule = predict_rule(traffic_crds, rollout.namespace)
        assert rule["backendRefs"] == backend_refs, split
        assert rule["filters"] == [HEADER_FILTER, AUDIT_MIRROR, *mirrors], split
        assert routes.verify(rollout, split)


def test_default_rule_is_the_one_sending_to_stable(traffic_crds: client.ApiClient,
                                                   route: dict[str, Any],
                                                   rollout: RolloutRef) -> None:
    router(traffic_crds, rule_name=None).apply(rollout, TrafficSplit("r1", "r2", 25))
    rule = predict_rule(traffic_crds, rollout.namespace)
    assert rule["backendRefs"] == [ref("fraud-stable", 75), ref("fraud-candidate", 25)]


def test_unrelated_rules_fields_and_other_managers_are_left_alone(
        traffic_crds: client.ApiClient, route: dict[str, Any], rollout: RolloutRef) -> None:
    router(traffic_crds).apply(rollout, TrafficSplit(
        "r1", "r2", 30, mirrors=(Mirror("candidate", "r2", 10),)))
    after = get(traffic_crds, HTTPROUTE, rollout.namespace, "web")
    assert after["spec"]["rules"][0] == route["spec"]["rules"][0]
    for key in ("parentRefs", "hostnames"):
        assert after["spec"][key] == route["spec"][key]
    for key in ("labels", "annotations"):
        assert after["metadata"][key] == route["metadata"][key]
    rule, before = after["spec"]["rules"][1], route["spec"]["rules"][1]
    assert (rule["name"], rule["matches"]) == (before["name"], before["matches"])
    assert rule["filters"][:2] == [HEADER_FILTER, AUDIT_MIRROR]
    # Field ownership: we hold spec.rules (atomic in the CRD) and nothing else; the GitOps
    # manager keeps its labels, annotations, parentRefs and hostnames.
    assert operator_owns_only(after, "rules")
    gitops = owned_fields(after, GITOPS_MANAGER)
    assert {"f:labels", "f:annotations"} <= set(gitops["f:metadata"])
    assert {"f:parentRefs", "f:hostnames"} <= set(gitops["f:spec"])


def test_a_later_gitops_label_change_keeps_our_weights(traffic_crds: client.ApiClient,
                                                       route: dict[str, Any],
                                                       rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 40)
    routes = router(traffic_crds)
    routes.apply(rollout, split)
    relabel = manifest(rollout.namespace)
    del relabel["spec"]["rules"]  # the GitOps tool ignores rules (see docs/traffic-routers.md)
    relabel["metadata"]["labels"]["tier"] = "gold"
    gitops_apply(traffic_crds, HTTPROUTE, relabel)
    after = get(traffic_crds, HTTPROUTE, rollout.namespace, "web")
    assert after["metadata"]["labels"] == {"team": "risk", "tier": "gold"}
    assert routes.verify(rollout, split)


def test_verify_sees_someone_elses_edit_and_apply_repairs_it(traffic_crds: client.ApiClient,
                                                             route: dict[str, Any],
                                                             rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 20, mirrors=(Mirror("candidate", "r2", 5),))
    routes = router(traffic_crds)
    routes.apply(rollout, split)
    assert routes.verify(rollout, split)
    rules = get(traffic_crds, HTTPROUTE, rollout.namespace, "web")["spec"]["rules"]
    rules[1]["backendRefs"][1]["weight"] = 70
    hand_edit(traffic_crds, HTTPROUTE, rollout.namespace, "web", {"spec": {"rules": rules}})
    assert not routes.verify(rollout, split)
    routes.apply(rollout, split)
    assert routes.verify(rollout, split)
    assert predict_rule(traffic_crds, rollout.namespace)["backendRefs"][1]["weight"] == 20


def test_remove_returns_everything_to_stable(traffic_crds: client.ApiClient,
                                             route: dict[str, Any],
                                             rollout: RolloutRef) -> None:
    routes = router(traffic_crds)
    routes.apply(rollout, TrafficSplit("r1", "r2", 60, mirrors=(
        Mirror("candidate", "r2", 10), Mirror("v3", "s3", 50))))
    routes.remove(rollout)
    rule = predict_rule(traffic_crds, rollout.namespace)
    assert rule["backendRefs"] == [ref("fraud-stable", 100)]
    assert rule["filters"] == [HEADER_FILTER, AUDIT_MIRROR]
    assert routes.verify(rollout, TrafficSplit("r1"))
    routes.remove(rollout)  # twice is fine
    router(traffic_crds, http_route="gone").remove(rollout)  # a missing route is no error


def test_missing_route_and_missing_rule_are_router_errors(traffic_crds: client.ApiClient,
                                                          route: dict[str, Any],
                                                          rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 10)
    ns = rollout.namespace
    with pytest.raises(RouterError, match=rf"^HTTPRoute {ns}/gone not found$"):
        router(traffic_crds, http_route="gone").apply(rollout, split)
    with pytest.raises(RouterError, match=rf"rule 'score' not found in HTTPRoute {ns}/web"):
        router(traffic_crds, rule_name="score").apply(rollout, split)
    assert not router(traffic_crds, http_route="gone").verify(rollout, split)
    assert not router(traffic_crds, rule_name="score").verify(rollout, split)


def test_apply_is_idempotent_down_to_the_resource_version(traffic_crds: client.ApiClient,
                                                          route: dict[str, Any],
                                                          rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 35, mirrors=(Mirror("candidate", "r2", 15),))
    routes = router(traffic_crds)
    routes.apply(rollout, split)
    first = get(traffic_crds, HTTPROUTE, rollout.namespace, "web")
    routes.apply(rollout, split)
    second = get(traffic_crds, HTTPROUTE, rollout.namespace, "web")
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    # The router skips the write; the apiserver's own no-op detection would too:
    managed._apply(traffic_crds, HTTPROUTE, second, "rules", second["spec"]["rules"])
    third = get(traffic_crds, HTTPROUTE, rollout.namespace, "web")
    assert third["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_an_edit_between_our_read_and_write_is_not_lost(
        traffic_crds: client.ApiClient, route: dict[str, Any], rollout: RolloutRef,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stale = copy.deepcopy(route)
    # Someone adds a match to the health rule after we read: our write must not undo it.
    rules = copy.deepcopy(route["spec"]["rules"])
    rules[0]["matches"].append({"path": {"type": "Exact", "value": "/livez"}})
    hand_edit(traffic_crds, HTTPROUTE, rollout.namespace, "web", {"spec": {"rules": rules}})
    reads: list[str] = []
    fresh_read = managed.read

    def read_stale_first(*args: Any) -> dict[str, Any] | None:
        reads.append("read")
        return stale if len(reads) == 1 else fresh_read(*args)

    monkeypatch.setattr(managed, "read", read_stale_first)
    router(traffic_crds).apply(rollout, TrafficSplit("r1", "r2", 10))
    assert len(reads) == 2, "the stale write must fail with 409 and be retried on a fresh read"
    after = get(traffic_crds, HTTPROUTE, rollout.namespace, "web")
    assert after["spec"]["rules"][0]["matches"] == rules[0]["matches"]
    assert after["spec"]["rules"][1]["backendRefs"][1]["weight"] == 10
