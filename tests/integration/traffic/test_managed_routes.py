"""Both managed-route routers against their real objects (published CRDs) in the local control
plane: one contract, each test run once per router (the `routes` fixture). What only one router
does is in its own module."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client

from controller.rollout.ref import RolloutRef
from controller.rollout.split import Mirror, TrafficSplit
from controller.traffic import managed
from controller.traffic.base import RouterError
from tests.integration.traffic.kube import (
    GITOPS_MANAGER,
    gitops_apply,
    hand_edit,
    operator_owns_only,
    owned_fields,
)
from tests.integration.traffic.routes import SHADOW_V3, Routes, holds

pytestmark = pytest.mark.integration

# split, then the managed entry's backends and our mirrors: (service, weight or percent)
SPLITS = [
    (TrafficSplit("r1", "r2", 10), [("fraud-stable", 90), ("fraud-candidate", 10)], []),
    (TrafficSplit("r1", "r2", 0, mirrors=(Mirror("candidate", "r2", 20),)),
     [("fraud-stable", 100), ("fraud-candidate", 0)], [("fraud-candidate", 20)]),
    (TrafficSplit("r1", "r2", 50, mirrors=(Mirror("candidate", "r2", 5),
                                           Mirror("v3", "s3", 100))),
     [("fraud-stable", 50), ("fraud-candidate", 50)],
     [("fraud-candidate", 5), (SHADOW_V3, 100)]),
    (TrafficSplit("r1", "r2", 100), [("fraud-stable", 0), ("fraud-candidate", 100)], []),
    (TrafficSplit("r2", mirrors=(Mirror("v3", "s3", 7),)),
     [("fraud-stable", 100)], [(SHADOW_V3, 7)]),
]


def test_weights_and_mirrors_at_several_splits(traffic_crds: client.ApiClient, routes: Routes,
                                               applied: dict[str, Any],
                                               rollout: RolloutRef) -> None:
    router = routes.router(traffic_crds)
    for split, backends, mirrors in SPLITS:
        router.apply(rollout, split)
        entry = routes.predict(traffic_crds, rollout.namespace)
        assert entry[routes.backends_key] == [routes.backend(*b) for b in backends], split
        assert entry[routes.mirrors_key] == [*routes.foreign_mirrors,
                                             *(routes.mirror(*m) for m in mirrors)], split
        assert holds(router, rollout, split)


def test_default_entry_is_the_routers_default(traffic_crds: client.ApiClient, routes: Routes,
                                              applied: dict[str, Any],
                                              rollout: RolloutRef) -> None:
    """gatewayAPI: the rule sending to stable (the second); istio: the first http route."""
    routes.router(traffic_crds, entry_name=None).apply(rollout, TrafficSplit("r1", "r2", 25))
    after = routes.entries(routes.get(traffic_crds, rollout.namespace))
    assert after[routes.default_index][routes.backends_key] == [
        routes.backend("fraud-stable", 75), routes.backend("fraud-candidate", 25)]
    before = routes.entries(applied)
    assert [e for i, e in enumerate(after) if i != routes.default_index] == [
        e for i, e in enumerate(before) if i != routes.default_index]


def test_unrelated_entries_fields_and_other_managers_are_left_alone(
        traffic_crds: client.ApiClient, routes: Routes, applied: dict[str, Any],
        rollout: RolloutRef) -> None:
    routes.router(traffic_crds).apply(rollout, TrafficSplit(
        "r1", "r2", 30, mirrors=(Mirror("candidate", "r2", 10),)))
    after = routes.get(traffic_crds, rollout.namespace)
    assert routes.entries(after)[0] == routes.entries(applied)[0]
    for key in routes.gitops_spec:
        assert after["spec"][key] == applied["spec"][key], key
    for key in ("labels", "annotations"):
        assert after["metadata"][key] == applied["metadata"][key], key
    entry, before = routes.entries(after)[1], routes.entries(applied)[1]
    for key in routes.kept_entry:
        assert entry[key] == before[key], key
    foreign = routes.foreign_mirrors
    assert entry[routes.mirrors_key][:len(foreign)] == foreign
    # Field ownership: we hold spec.<field> (atomic in the CRD) and nothing else; the GitOps
    # manager keeps its labels, annotations and the other spec fields.
    assert operator_owns_only(after, routes.field)
    gitops = owned_fields(after, GITOPS_MANAGER)
    assert {"f:labels", "f:annotations"} <= set(gitops["f:metadata"])
    assert {f"f:{key}" for key in routes.gitops_spec} <= set(gitops["f:spec"])


def test_a_later_gitops_label_change_keeps_our_weights(traffic_crds: client.ApiClient,
                                                       routes: Routes, applied: dict[str, Any],
                                                       rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 40)
    router = routes.router(traffic_crds)
    router.apply(rollout, split)
    relabel = routes.manifest(rollout.namespace)
    del relabel["spec"][routes.field]  # the GitOps tool ignores it (docs/traffic-routers.md)
    relabel["metadata"]["labels"]["tier"] = "gold"
    gitops_apply(traffic_crds, routes.resource, relabel)
    after = routes.get(traffic_crds, rollout.namespace)
    assert after["metadata"]["labels"] == {"team": "risk", "tier": "gold"}
    assert holds(router, rollout, split)


def test_verify_sees_someone_elses_edit_and_apply_repairs_it(traffic_crds: client.ApiClient,
                                                             routes: Routes,
                                                             applied: dict[str, Any],
                                                             rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 20, mirrors=(Mirror("candidate", "r2", 5),))
    ours = len(routes.foreign_mirrors)  # where our mirror sits
    router = routes.router(traffic_crds)
    router.apply(rollout, split)
    assert holds(router, rollout, split)

    def someone_sets_the_candidate_weight(entry: dict[str, Any]) -> None:
        entry[routes.backends_key][1]["weight"] = 70

    def someone_sets_our_mirror_percent(entry: dict[str, Any]) -> None:
        entry[routes.mirrors_key][ours] = routes.mirror("fraud-candidate", 50)

    for edit in (someone_sets_the_candidate_weight, someone_sets_our_mirror_percent):
        entries = routes.entries(routes.get(traffic_crds, rollout.namespace))
        edit(entries[1])
        hand_edit(traffic_crds, routes.resource, rollout.namespace, "web",
                  {"spec": {routes.field: entries}})
        assert not holds(router, rollout, split)
        router.apply(rollout, split)
        assert holds(router, rollout, split)
        entry = routes.predict(traffic_crds, rollout.namespace)
        assert entry[routes.backends_key][1]["weight"] == 20
        assert entry[routes.mirrors_key][ours] == routes.mirror("fraud-candidate", 5)


def test_remove_returns_everything_to_stable(traffic_crds: client.ApiClient, routes: Routes,
                                             applied: dict[str, Any],
                                             rollout: RolloutRef) -> None:
    router = routes.router(traffic_crds)
    router.apply(rollout, TrafficSplit("r1", "r2", 60, mirrors=(
        Mirror("candidate", "r2", 10), Mirror("v3", "s3", 50))))
    router.remove(rollout)
    entry = routes.predict(traffic_crds, rollout.namespace)
    assert entry[routes.backends_key] == [routes.backend("fraud-stable", 100)]
    assert entry[routes.mirrors_key] == routes.foreign_mirrors
    assert holds(router, rollout, TrafficSplit("r1"))
    router.remove(rollout)  # twice is fine
    routes.router(traffic_crds, name="gone").remove(rollout)  # a missing object is no error


def test_missing_object_and_missing_entry_are_router_errors(traffic_crds: client.ApiClient,
                                                            routes: Routes,
                                                            applied: dict[str, Any],
                                                            rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 10, mirrors=(Mirror("candidate", "r2", 5),))
    ns = rollout.namespace
    gone, score = routes.router(traffic_crds, name="gone"), routes.router(traffic_crds, "score")
    with pytest.raises(RouterError, match=rf"^{routes.kind} {ns}/gone not found$"):
        gone.apply(rollout, split)
    with pytest.raises(RouterError, match=routes.missing_score.format(namespace=ns)):
        score.apply(rollout, split)
    assert not holds(gone, rollout, split)
    assert not holds(score, rollout, split)


def test_apply_is_idempotent_down_to_the_resource_version(traffic_crds: client.ApiClient,
                                                          routes: Routes,
                                                          applied: dict[str, Any],
                                                          rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 35, mirrors=(Mirror("candidate", "r2", 15),))
    router = routes.router(traffic_crds)
    router.apply(rollout, split)
    first = routes.get(traffic_crds, rollout.namespace)
    router.apply(rollout, split)
    second = routes.get(traffic_crds, rollout.namespace)
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    # The router skips the write; the apiserver's own no-op detection would too:
    managed._apply(traffic_crds, routes.resource, second, routes.field, routes.entries(second))
    third = routes.get(traffic_crds, rollout.namespace)
    assert third["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_an_edit_between_our_read_and_write_is_not_lost(
        traffic_crds: client.ApiClient, routes: Routes, applied: dict[str, Any],
        rollout: RolloutRef, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = copy.deepcopy(applied)
    # Someone adds a match to the health entry after we read: our write must not undo it.
    entries = copy.deepcopy(routes.entries(applied))
    entries[0][routes.match_key].append(routes.extra_match)
    hand_edit(traffic_crds, routes.resource, rollout.namespace, "web",
              {"spec": {routes.field: entries}})
    reads: list[str] = []
    fresh_read = managed.read

    def read_stale_first(*args: Any) -> dict[str, Any] | None:
        reads.append("read")
        return stale if len(reads) == 1 else fresh_read(*args)

    monkeypatch.setattr(managed, "read", read_stale_first)
    routes.router(traffic_crds).apply(rollout, TrafficSplit("r1", "r2", 10))
    assert len(reads) == 2, "the stale write must fail with 409 and be retried on a fresh read"
    after = routes.entries(routes.get(traffic_crds, rollout.namespace))
    assert after[0][routes.match_key] == entries[0][routes.match_key]
    assert after[1][routes.backends_key][1]["weight"] == 10
