"""Make before break: what the new traffic reaches is written before it, what it leaves after."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from controller.api.status import ModelRolloutStatus
from controller.rollout.model import Plan
from controller.rollout.ordering import ChildWrite, WriteOrder, order_writes
from controller.rollout.split import Mirror, TrafficSplit

pytestmark = pytest.mark.unit


def order(deployments: Mapping[str, int], existing: Mapping[str, int], traffic: TrafficSplit,
          revision: str = "new", candidate_service: str | None = "new") -> WriteOrder:
    plan = Plan(status=ModelRolloutStatus(), revision=revision, deployments=deployments,
                stable_service=traffic.stable_revision, candidate_service=candidate_service,
                traffic=traffic)
    return order_writes(plan, existing)


def test_a_new_revision_is_created_beside_the_traffic_and_its_service_follows() -> None:
    found = order({"old": 3, "new": 3}, {"old": 3}, TrafficSplit("old", "new", 0))
    assert found.services_before_traffic == ("stable",)
    assert found.children_with_traffic == (ChildWrite("new", 3, "apply"),)
    # the candidate Service may still carry the previous candidate's traffic until the table
    # has moved: it switches only after
    assert found.services_after_traffic == ("candidate",)
    assert found.children_after_traffic == ()


def test_a_weighted_or_mirrored_candidate_needs_its_service_first() -> None:
    weighted = order({"old": 3, "new": 3}, {"old": 3, "new": 3}, TrafficSplit("old", "new", 30))
    mirrored = order({"old": 3, "new": 3}, {"old": 3, "new": 3},
                     TrafficSplit("old", "new", 0, (Mirror("candidate", "new", 50),)))
    for found in (weighted, mirrored):
        assert found.services_before_traffic == ("stable", "candidate")
        assert found.services_after_traffic == ()


def test_a_rollback_moves_the_traffic_before_the_candidate_shrinks() -> None:
    found = order({"old": 3, "new": 0}, {"old": 3, "new": 3}, TrafficSplit("old", "new", 0))
    assert found.children_with_traffic == ()
    assert found.children_after_traffic == (ChildWrite("new", 0, "apply"),)


def test_a_superseded_candidate_is_deleted_after_the_traffic_left_it() -> None:
    found = order({"old": 3, "newer": 3}, {"old": 3, "new": 3}, TrafficSplit("old", "newer", 0),
                  revision="newer", candidate_service="newer")
    assert found.children_with_traffic == (ChildWrite("newer", 3, "apply"),)
    assert found.children_after_traffic == (ChildWrite("new", 0, "delete"),)


def test_an_old_stable_shrinks_after_the_traffic_and_grows_beside_it() -> None:
    shrink = order({"old": 1, "new": 3}, {"old": 3, "new": 3}, TrafficSplit("new"),
                   candidate_service=None)
    assert shrink.children_after_traffic == (ChildWrite("old", 1, "scale"),)
    grow = order({"old": 5, "new": 3}, {"old": 3, "new": 3}, TrafficSplit("new"),
                 candidate_service=None)
    assert set(grow.children_with_traffic) == {ChildWrite("new", 3, "apply"),
                                               ChildWrite("old", 5, "scale")}


def test_a_full_candidate_weight_leaves_the_stable_service_for_after() -> None:
    found = order({"old": 3, "new": 3}, {"old": 3, "new": 3}, TrafficSplit("old", "new", 100))
    assert found.services_before_traffic == ("candidate",)
    assert found.services_after_traffic == ("stable",)


def test_a_revision_without_deployment_or_template_is_reported_not_written() -> None:
    found = order({"old": 3, "gone": 3}, {"old": 3}, TrafficSplit("old"), revision="old",
                  candidate_service=None)
    assert found.unknown == ("gone",)
    assert found.children_with_traffic == (ChildWrite("old", 3, "apply"),)
