"""HTTPRoute rewriting for a split (pure): our backends and mirrors only, the rest as read."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.rollout.ref import RolloutRef
from controller.rollout.split import Mirror, TrafficSplit
from controller.traffic.base import RouterError
from controller.traffic.gatewayapi import (
    find_rule,
    rewrite_rule,
    route_released,
    route_with_split,
)

pytestmark = pytest.mark.unit

ROLLOUT = RolloutRef(name="fraud", namespace="ml", uid="u1", port=8080)
HEADER_FILTER = {"type": "RequestHeaderModifier",
                 "requestHeaderModifier": {"set": [{"name": "x-team", "value": "risk"}]}}
FOREIGN_MIRROR = {"type": "RequestMirror", "requestMirror": {
    "backendRef": {"group": "", "kind": "Service", "name": "audit", "port": 9000}}}


def ref(name: str, weight: int = 1, port: int = 8080, **extra: Any) -> dict[str, Any]:
    return {"group": "", "kind": "Service", "name": name, "port": port, "weight": weight, **extra}


def mirror_filter(name: str, percent: int) -> dict[str, Any]:
    return {"type": "RequestMirror", "requestMirror": {
        "backendRef": {"group": "", "kind": "Service", "name": name, "port": 8080},
        "percent": percent}}


def route() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "ml", "labels": {"team": "risk"}},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "hostnames": ["fraud.example.com"],
            "rules": [
                {"name": "health", "matches": [{"path": {"type": "Exact", "value": "/healthz"}}],
                 "backendRefs": [ref("health", port=80)]},
                {"name": "predict",
                 "matches": [{"path": {"type": "PathPrefix", "value": "/predict"}}],
                 "filters": [HEADER_FILTER, FOREIGN_MIRROR],
                 "timeouts": {"request": "10s"},
                 "backendRefs": [ref("fraud-stable")]},
            ],
        },
        "status": {"parents": []},
    }


def managed(result: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = result["spec"]["rules"][1]
    return rule


def canary(weight: int, *mirrors: Mirror) -> TrafficSplit:
    return TrafficSplit("r1", "r2", weight, mirrors=mirrors)


# --- choosing the rule -----------------------------------------------------------------------


def test_rule_by_name() -> None:
    assert find_rule(route(), ROLLOUT, "predict") == 1
    assert find_rule(route(), ROLLOUT, "health") == 0
    assert find_rule(route(), ROLLOUT, "absent") is None


def test_default_rule_is_the_first_sending_to_stable() -> None:
    assert find_rule(route(), ROLLOUT, None) == 1


def test_default_rule_ignores_a_same_named_service_elsewhere() -> None:
    elsewhere = route()
    elsewhere["spec"]["rules"][1]["backendRefs"] = [ref("fraud-stable", namespace="other")]
    assert find_rule(elsewhere, ROLLOUT, None) is None
    other_kind = route()
    other_kind["spec"]["rules"][1]["backendRefs"] = [
        {**ref("fraud-stable"), "group": "example.com", "kind": "Backend"}]
    assert find_rule(other_kind, ROLLOUT, None) is None


def test_missing_rule_name_is_a_router_error_naming_the_route() -> None:
    with pytest.raises(RouterError, match=r"rule 'score' not found in HTTPRoute ml/web"):
        route_with_split(route(), ROLLOUT, canary(10), "score")


def test_no_rule_sending_to_stable_is_a_router_error() -> None:
    bare = route()
    del bare["spec"]["rules"][1]
    with pytest.raises(RouterError, match=r"HTTPRoute ml/web .*Service fraud-stable"):
        route_with_split(bare, ROLLOUT, canary(10), None)


# --- weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [0, 1, 25, 50, 99, 100])
def test_weights_follow_the_split(weight: int) -> None:
    result = managed(route_with_split(route(), ROLLOUT, canary(weight), "predict"))
    assert result["backendRefs"] == [ref("fraud-stable", 100 - weight),
                                     ref("fraud-candidate", weight)]


def test_without_a_candidate_revision_the_candidate_ref_is_dropped() -> None:
    before = route_with_split(route(), ROLLOUT, canary(30), "predict")
    after = route_with_split(before, ROLLOUT, TrafficSplit("r2"), "predict")
    assert managed(after)["backendRefs"] == [ref("fraud-stable", 100)]


def test_port_is_the_rollout_port_and_ref_extras_survive() -> None:
    extra_filter = [{"type": "RequestHeaderModifier",
                     "requestHeaderModifier": {"add": [{"name": "x-v", "value": "1"}]}}]
    original = route()
    original["spec"]["rules"][1]["backendRefs"] = [ref("fraud-stable", port=80,
                                                       filters=extra_filter)]
    result = managed(route_with_split(original, ROLLOUT, canary(5), "predict"))
    assert result["backendRefs"][0] == ref("fraud-stable", 95, filters=extra_filter)


def test_foreign_backends_leave_the_managed_rule() -> None:
    # The managed rule's backends are the operator's: anything else would skew the percentages.
    original = route()
    original["spec"]["rules"][1]["backendRefs"].append(ref("legacy", 50))
    result = managed(route_with_split(original, ROLLOUT, canary(10), "predict"))
    assert [r["name"] for r in result["backendRefs"]] == ["fraud-stable", "fraud-candidate"]


# --- mirrors ---------------------------------------------------------------------------------


def test_candidate_mirror_is_a_request_mirror_filter_with_percent() -> None:
    split = canary(0, Mirror("candidate", "r2", 20))
    result = managed(route_with_split(route(), ROLLOUT, split, "predict"))
    assert result["filters"] == [HEADER_FILTER, FOREIGN_MIRROR,
                                 mirror_filter("fraud-candidate", 20)]


def test_zero_percent_mirror_writes_no_filter() -> None:
    split = canary(10, Mirror("candidate", "r2", 0))
    result = managed(route_with_split(route(), ROLLOUT, split, "predict"))
    assert result["filters"] == [HEADER_FILTER, FOREIGN_MIRROR]


def test_one_filter_per_shadow_in_split_order() -> None:
    split = canary(0, Mirror("v3", "s3", 5), Mirror("candidate", "r2", 1),
                   Mirror("v4", "s4", 100), Mirror("v3", "s3", 7))
    result = managed(route_with_split(route(), ROLLOUT, split, "predict"))
    assert result["filters"][2:] == [mirror_filter(ROLLOUT.shadow_service("v3"), 5),
                                     mirror_filter("fraud-candidate", 1),
                                     mirror_filter(ROLLOUT.shadow_service("v4"), 100)]


def test_mirror_percent_changes_in_place_and_gone_shadows_are_dropped() -> None:
    first = route_with_split(route(), ROLLOUT, canary(0, Mirror("candidate", "r2", 10),
                                                      Mirror("old", "s1", 50)), "predict")
    second = route_with_split(first, ROLLOUT, canary(0, Mirror("candidate", "r2", 40)),
                              "predict")
    assert managed(second)["filters"] == [HEADER_FILTER, FOREIGN_MIRROR,
                                          mirror_filter("fraud-candidate", 40)]


def test_mirrors_to_stable_or_to_an_absent_candidate_are_ignored() -> None:
    result = managed(route_with_split(
        route(), ROLLOUT, canary(0, Mirror("stable", "r1", 50)), "predict"))
    assert result["filters"] == [HEADER_FILTER, FOREIGN_MIRROR]
    split = TrafficSplit("r1", mirrors=(Mirror("candidate", "r2", 50),))
    result = managed(route_with_split(route(), ROLLOUT, split, "predict"))
    assert result["filters"] == [HEADER_FILTER, FOREIGN_MIRROR]


def test_mirrors_to_same_named_services_elsewhere_are_not_ours() -> None:
    original = route()
    elsewhere = copy.deepcopy(mirror_filter("fraud-candidate", 30))
    elsewhere["requestMirror"]["backendRef"]["namespace"] = "other"
    original["spec"]["rules"][1]["filters"] = [elsewhere]
    result = managed(route_with_split(original, ROLLOUT, canary(0), "predict"))
    assert result["filters"] == [elsewhere]


def test_no_filters_key_when_nothing_is_left() -> None:
    original = route()
    del original["spec"]["rules"][1]["filters"]
    result = managed(route_with_split(original, ROLLOUT, canary(10), "predict"))
    assert "filters" not in result


# --- everything else as read -----------------------------------------------------------------


def test_everything_outside_backends_and_our_filters_is_untouched() -> None:
    original = route()
    snapshot = copy.deepcopy(original)
    result = route_with_split(original, ROLLOUT, canary(30, Mirror("candidate", "r2", 5)), None)
    assert original == snapshot, "the input must not be mutated"
    assert result["spec"]["rules"][0] == snapshot["spec"]["rules"][0]
    for key in ("metadata", "status"):
        assert result[key] == snapshot[key]
    for key in ("parentRefs", "hostnames"):
        assert result["spec"][key] == snapshot["spec"][key]
    rule, before = managed(result), snapshot["spec"]["rules"][1]
    for key in ("name", "matches", "timeouts"):
        assert rule[key] == before[key]


def test_rewriting_is_idempotent() -> None:
    split = canary(40, Mirror("candidate", "r2", 10), Mirror("v3", "s", 3))
    once = route_with_split(route(), ROLLOUT, split, "predict")
    assert route_with_split(once, ROLLOUT, split, "predict") == once


# --- release ---------------------------------------------------------------------------------


def test_release_sends_everything_to_stable_and_drops_our_mirrors() -> None:
    busy = route_with_split(route(), ROLLOUT, canary(60, Mirror("candidate", "r2", 10),
                                                       Mirror("v3", "s", 3)), "predict")
    rule = managed(route_released(busy, ROLLOUT, None))
    assert rule["backendRefs"] == [ref("fraud-stable", 100)]
    assert rule["filters"] == [HEADER_FILTER, FOREIGN_MIRROR]


def test_release_without_the_rule_changes_nothing() -> None:
    assert route_released(route(), ROLLOUT, "absent") == route()


# --- properties ------------------------------------------------------------------------------

splits = st.builds(
    lambda weight, candidate, mirror, shadow: TrafficSplit(
        "r1", "r2" if candidate else None, weight if candidate else 0,
        mirrors=(Mirror("candidate", "r2", mirror), Mirror("v9", "s", shadow))),
    st.integers(0, 100), st.booleans(), st.integers(0, 100), st.integers(0, 100))


@given(splits, splits)
def test_any_sequence_of_splits_ends_as_the_last_one_alone(first: TrafficSplit,
                                                           last: TrafficSplit) -> None:
    direct = route_with_split(route(), ROLLOUT, last, "predict")
    via = route_with_split(route_with_split(route(), ROLLOUT, first, "predict"),
                           ROLLOUT, last, "predict")
    assert via == direct
    weights = [r["weight"] for r in managed(direct)["backendRefs"]]
    assert sum(weights) == 100
    assert direct["spec"]["rules"][0] == route()["spec"]["rules"][0]


@given(splits)
def test_release_after_any_split_equals_release_of_the_original(split: TrafficSplit) -> None:
    busy = route_with_split(route(), ROLLOUT, split, "predict")
    assert route_released(busy, ROLLOUT, "predict") == route_released(route(), ROLLOUT,
                                                                      "predict")


def test_rewrite_rule_with_none_is_stable_only() -> None:
    rule = rewrite_rule({"backendRefs": [ref("fraud-candidate", 3)]}, ROLLOUT, None)
    assert rule == {"backendRefs": [ref("fraud-stable", 100)]}
