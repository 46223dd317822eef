"""What only the istio router does (pure): host spellings, which http route it manages, entry
extras, the legacy `mirror` field. The contract it shares with gatewayAPI: test_managed_routes.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller.rollout.split import Mirror
from controller.traffic.base import RouterError
from controller.traffic.istio import local_service
from tests.unit.traffic.routes import (
    FOREIGN_MIRROR,
    ROLLOUT,
    STABLE_HEADERS,
    canary,
    dest,
    mirror,
    virtual_service,
    virtual_service_router,
)

pytestmark = pytest.mark.unit


def managed(result: dict[str, Any]) -> dict[str, Any]:
    route: dict[str, Any] = result["spec"]["http"][1]
    return route


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
    assert virtual_service_router("predict").find_entry(virtual_service(), ROLLOUT) == 1
    assert virtual_service_router(None).find_entry(virtual_service(), ROLLOUT) == 0
    assert virtual_service_router("absent").find_entry(virtual_service(), ROLLOUT) is None
    assert virtual_service_router(None).find_entry({"spec": {"tcp": []}}, ROLLOUT) is None


def test_no_http_routes_is_a_router_error() -> None:
    empty = virtual_service()
    empty["spec"]["http"] = []
    with pytest.raises(RouterError, match=r"VirtualService ml/web has no http route"):
        virtual_service_router(None).with_split(empty, ROLLOUT, canary(10))


def test_entry_headers_survive_and_the_subset_goes() -> None:
    route = managed(virtual_service_router().with_split(virtual_service(), ROLLOUT, canary(10)))
    assert route["route"][0] == {**dest("fraud-stable", 90), "headers": STABLE_HEADERS}


def test_mirror_percentages_are_written_as_integers() -> None:
    split = canary(0, Mirror("candidate", "r2", 25))
    route = managed(virtual_service_router().with_split(virtual_service(), ROLLOUT, split))
    assert route["mirrors"][1] == mirror("fraud-candidate", 25)
    assert isinstance(route["mirrors"][1]["percentage"]["value"], int)


def test_our_mirrors_under_any_local_host_spelling_are_replaced() -> None:
    original = virtual_service()
    managed(original)["mirrors"].append(
        {"destination": {"host": "fraud-candidate.ml.svc.cluster.local"},
         "percentage": {"value": 50.0}})
    route = managed(virtual_service_router().with_split(
        original, ROLLOUT, canary(0, Mirror("candidate", "r2", 5))))
    assert route["mirrors"] == [FOREIGN_MIRROR, mirror("fraud-candidate", 5)]


def test_legacy_mirror_blocks_new_mirrors_but_not_weights() -> None:
    legacy = virtual_service()
    managed(legacy)["mirror"] = {"host": "audit"}
    managed(legacy)["mirrorPercentage"] = {"value": 1.0}
    del managed(legacy)["mirrors"]
    router = virtual_service_router()
    with pytest.raises(RouterError, match=r"'predict' of VirtualService ml/web .*legacy"):
        router.with_split(legacy, ROLLOUT, canary(0, Mirror("candidate", "r2", 5)))
    route = managed(router.with_split(legacy, ROLLOUT, canary(20)))
    assert route["mirror"] == {"host": "audit"}
    assert "mirrors" not in route
