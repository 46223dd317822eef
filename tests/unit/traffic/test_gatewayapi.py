"""What only the gatewayAPI router does (pure): which rule it manages, which backendRefs and
RequestMirror filters are its. The contract it shares with istio: test_managed_routes.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controller.traffic.base import RouterError
from tests.unit.traffic.routes import (
    ROLLOUT,
    canary,
    http_route_router,
    mirror_filter,
    ref,
    route,
)

pytestmark = pytest.mark.unit


def managed(result: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = result["spec"]["rules"][1]
    return rule


# --- choosing the rule -----------------------------------------------------------------------


def test_rule_by_name() -> None:
    assert http_route_router("predict").find_entry(route(), ROLLOUT) == 1
    assert http_route_router("health").find_entry(route(), ROLLOUT) == 0
    assert http_route_router("absent").find_entry(route(), ROLLOUT) is None


def test_default_rule_is_the_first_sending_to_stable() -> None:
    assert http_route_router(None).find_entry(route(), ROLLOUT) == 1


def test_default_rule_ignores_a_same_named_service_elsewhere() -> None:
    elsewhere = route()
    elsewhere["spec"]["rules"][1]["backendRefs"] = [ref("fraud-stable", namespace="other")]
    assert http_route_router(None).find_entry(elsewhere, ROLLOUT) is None
    other_kind = route()
    other_kind["spec"]["rules"][1]["backendRefs"] = [
        {**ref("fraud-stable"), "group": "example.com", "kind": "Backend"}]
    assert http_route_router(None).find_entry(other_kind, ROLLOUT) is None


def test_no_rule_sending_to_stable_is_a_router_error() -> None:
    bare = route()
    del bare["spec"]["rules"][1]
    with pytest.raises(RouterError, match=r"HTTPRoute ml/web .*Service fraud-stable"):
        http_route_router(None).with_split(bare, ROLLOUT, canary(10))


# --- which backendRefs and filters are ours --------------------------------------------------


def test_port_is_the_rollout_port_and_ref_extras_survive() -> None:
    extra_filter = [{"type": "RequestHeaderModifier",
                     "requestHeaderModifier": {"add": [{"name": "x-v", "value": "1"}]}}]
    original = route()
    original["spec"]["rules"][1]["backendRefs"] = [ref("fraud-stable", port=80,
                                                       filters=extra_filter)]
    result = managed(http_route_router().with_split(original, ROLLOUT, canary(5)))
    assert result["backendRefs"][0] == ref("fraud-stable", 95, filters=extra_filter)


def test_foreign_backends_leave_the_managed_rule() -> None:
    # The managed rule's backends are the operator's: anything else would skew the percentages.
    original = route()
    original["spec"]["rules"][1]["backendRefs"].append(ref("legacy", 50))
    result = managed(http_route_router().with_split(original, ROLLOUT, canary(10)))
    assert [r["name"] for r in result["backendRefs"]] == ["fraud-stable", "fraud-candidate"]


def test_mirrors_to_same_named_services_elsewhere_are_not_ours() -> None:
    original = route()
    elsewhere = copy.deepcopy(mirror_filter("fraud-candidate", 30))
    elsewhere["requestMirror"]["backendRef"]["namespace"] = "other"
    original["spec"]["rules"][1]["filters"] = [elsewhere]
    result = managed(http_route_router().with_split(original, ROLLOUT, canary(0)))
    assert result["filters"] == [elsewhere]
