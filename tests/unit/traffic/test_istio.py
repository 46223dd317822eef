"""VirtualService rewriting for a split (pure): our destinations and mirrors, the rest as read."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.rollout.ref import RolloutRef
from controller.rollout.split import Mirror, TrafficSplit
from controller.traffic.base import RouterError
from controller.traffic.istio import (
    find_route,
    local_service,
    service_released,
    service_with_split,
)

pytestmark = pytest.mark.unit

ROLLOUT = RolloutRef(name="fraud", namespace="ml", uid="u1", port=8080)
FOREIGN_MIRROR = {"destination": {"host": "audit.tools.svc.cluster.local"},
                  "percentage": {"value": 1.5}}


def dest(host: str, weight: int, port: int = 8080) -> dict[str, Any]:
    return {"destination": {"host": host, "port": {"number": port}}, "weight": weight}


def mirror(host: str, percent: int) -> dict[str, Any]:
    return {"destination": {"host": host, "port": {"number": 8080}},
            "percentage": {"value": percent}}


def virtual_service() -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": "ml", "annotations": {"owner": "gitops"}},
        "spec": {
            "hosts": ["fraud.example.com"], "gateways": ["edge"],
            "http": [
                {"name": "health", "match": [{"uri": {"exact": "/healthz"}}],
                 "route": [dest("health", 100, port=80)]},
                {"name": "predict", "match": [{"uri": {"prefix": "/predict"}}],
                 "retries": {"attempts": 2}, "timeout": "5s",
                 "mirrors": [FOREIGN_MIRROR],
                 "route": [{"destination": {"host": "fraud-stable.ml.svc.cluster.local",
                                            "subset": "v1"},
                            "headers": {"request": {"set": {"x-variant": "stable"}}}}]},
            ],
        },
    }


def managed(result: dict[str, Any]) -> dict[str, Any]:
    route: dict[str, Any] = result["spec"]["http"][1]
    return route


def canary(weight: int, *mirrors: Mirror) -> TrafficSplit:
    return TrafficSplit("r1", "r2", weight, mirrors=mirrors)


@pytest.mark.parametrize(("host", "service"), [
    ("fraud-stable", "fraud-stable"),
    ("fraud-stable.ml", "fraud-stable"),
    ("fraud-stable.ml.svc", "fraud-stable"),
    ("fraud-stable.ml.svc.cluster.local", "fraud-stable"),
    ("fraud-stable.other.svc.cluster.local", None),
    ("fraud-stable.ml.svc.example.org", None),
    ("api.example.com", None),
    ("", None),
    (None, None),
])
def test_local_service(host: object, service: str | None) -> None:
    assert local_service(host, "ml") == service


def test_route_by_name_else_the_first() -> None:
    assert find_route(virtual_service(), "predict") == 1
    assert find_route(virtual_service(), None) == 0
    assert find_route(virtual_service(), "absent") is None
    assert find_route({"spec": {"tcp": []}}, None) is None


def test_missing_route_name_is_a_router_error_naming_the_object() -> None:
    with pytest.raises(RouterError, match=r"http route 'score' not found in VirtualService ml/web"):
        service_with_split(virtual_service(), ROLLOUT, canary(10), "score")


def test_no_http_routes_is_a_router_error() -> None:
    empty = virtual_service()
    empty["spec"]["http"] = []
    with pytest.raises(RouterError, match=r"VirtualService ml/web has no http route"):
        service_with_split(empty, ROLLOUT, canary(10), None)


@pytest.mark.parametrize("weight", [0, 1, 33, 50, 100])
def test_weights_sum_to_100_with_short_hosts(weight: int) -> None:
    route = managed(service_with_split(virtual_service(), ROLLOUT, canary(weight), "predict"))
    assert [(e["destination"], e["weight"]) for e in route["route"]] == [
        ({"host": "fraud-stable", "port": {"number": 8080}}, 100 - weight),
        ({"host": "fraud-candidate", "port": {"number": 8080}}, weight)]


def test_entry_headers_survive_and_the_subset_goes() -> None:
    route = managed(service_with_split(virtual_service(), ROLLOUT, canary(10), "predict"))
    assert route["route"][0] == {**dest("fraud-stable", 90),
                                 "headers": {"request": {"set": {"x-variant": "stable"}}}}


def test_without_a_candidate_revision_there_is_one_destination() -> None:
    busy = service_with_split(virtual_service(), ROLLOUT, canary(70), "predict")
    calm = service_with_split(busy, ROLLOUT, TrafficSplit("r2"), "predict")
    assert [e["destination"]["host"] for e in managed(calm)["route"]] == ["fraud-stable"]
    assert managed(calm)["route"][0]["weight"] == 100


def test_mirrors_are_appended_after_foreign_ones() -> None:
    split = canary(0, Mirror("candidate", "r2", 25), Mirror("v3", "s", 100),
                   Mirror("v4", "s", 0))
    route = managed(service_with_split(virtual_service(), ROLLOUT, split, "predict"))
    assert route["mirrors"] == [FOREIGN_MIRROR, mirror("fraud-candidate", 25),
                                mirror(ROLLOUT.shadow_service("v3"), 100)]
    assert isinstance(route["mirrors"][1]["percentage"]["value"], int)


def test_our_mirrors_under_any_local_host_spelling_are_replaced() -> None:
    original = virtual_service()
    managed(original)["mirrors"].append(
        {"destination": {"host": "fraud-candidate.ml.svc.cluster.local"},
         "percentage": {"value": 50.0}})
    route = managed(service_with_split(original, ROLLOUT,
                                       canary(0, Mirror("candidate", "r2", 5)), "predict"))
    assert route["mirrors"] == [FOREIGN_MIRROR, mirror("fraud-candidate", 5)]


def test_legacy_mirror_blocks_new_mirrors_but_not_weights() -> None:
    legacy = virtual_service()
    managed(legacy)["mirror"] = {"host": "audit"}
    managed(legacy)["mirrorPercentage"] = {"value": 1.0}
    del managed(legacy)["mirrors"]
    with pytest.raises(RouterError, match=r"'predict' of VirtualService ml/web .*legacy"):
        service_with_split(legacy, ROLLOUT, canary(0, Mirror("candidate", "r2", 5)), "predict")
    route = managed(service_with_split(legacy, ROLLOUT, canary(20), "predict"))
    assert route["mirror"] == {"host": "audit"}
    assert "mirrors" not in route


def test_everything_else_is_untouched() -> None:
    original = virtual_service()
    snapshot = copy.deepcopy(original)
    result = service_with_split(original, ROLLOUT, canary(30, Mirror("candidate", "r2", 5)),
                                None)
    assert original == snapshot, "the input must not be mutated"
    assert result["spec"]["http"][1:] == snapshot["spec"]["http"][1:]  # None picks the first
    assert result["metadata"] == snapshot["metadata"]
    for key in ("hosts", "gateways"):
        assert result["spec"][key] == snapshot["spec"][key]
    route = managed(service_with_split(original, ROLLOUT, canary(30), "predict"))
    for key in ("name", "match", "retries", "timeout"):
        assert route[key] == managed(snapshot)[key]


def test_release_keeps_foreign_mirrors_and_drops_ours() -> None:
    busy = service_with_split(virtual_service(), ROLLOUT,
                              canary(50, Mirror("candidate", "r2", 10)), "predict")
    route = managed(service_released(busy, ROLLOUT, "predict"))
    assert [(e["destination"]["host"], e["weight"]) for e in route["route"]] == [
        ("fraud-stable", 100)]
    assert route["mirrors"] == [FOREIGN_MIRROR]


def test_release_removes_the_mirrors_key_when_only_ours_were_there() -> None:
    original = virtual_service()
    del managed(original)["mirrors"]
    busy = service_with_split(original, ROLLOUT, canary(0, Mirror("v3", "s", 10)), "predict")
    assert "mirrors" not in managed(service_released(busy, ROLLOUT, "predict"))


def test_release_without_the_route_changes_nothing() -> None:
    assert service_released(virtual_service(), ROLLOUT, "absent") == virtual_service()


splits = st.builds(
    lambda weight, candidate, mirror_percent: TrafficSplit(
        "r1", "r2" if candidate else None, weight if candidate else 0,
        mirrors=(Mirror("candidate", "r2", mirror_percent),)),
    st.integers(0, 100), st.booleans(), st.integers(0, 100))


@given(splits, splits)
def test_any_sequence_of_splits_ends_as_the_last_one_alone(first: TrafficSplit,
                                                           last: TrafficSplit) -> None:
    direct = service_with_split(virtual_service(), ROLLOUT, last, "predict")
    via = service_with_split(service_with_split(virtual_service(), ROLLOUT, first, "predict"),
                             ROLLOUT, last, "predict")
    assert via == direct
    assert sum(e["weight"] for e in managed(direct)["route"]) == 100
    assert service_with_split(direct, ROLLOUT, last, "predict") == direct
