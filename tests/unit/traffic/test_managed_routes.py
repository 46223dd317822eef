"""One contract, both managed-route routers (pure): our backends and mirrors only, the rest as
read. Each test runs once per router; what only one router does is in its own module."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.rollout.split import Mirror, TrafficSplit
from controller.traffic.base import RouterError
from tests.unit.traffic.routes import ROLLOUT, ROUTES, Routes, canary

pytestmark = [pytest.mark.unit,
              pytest.mark.parametrize("routes", ROUTES, ids=[r.name for r in ROUTES])]


# --- choosing the entry ----------------------------------------------------------------------


def test_missing_entry_name_is_a_router_error_naming_the_object(routes: Routes) -> None:
    with pytest.raises(RouterError, match=routes.missing_score):
        routes.router("score").with_split(routes.obj(), ROLLOUT, canary(10))


# --- weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [0, 1, 25, 33, 50, 99, 100])
def test_weights_follow_the_split_and_sum_to_100(routes: Routes, weight: int) -> None:
    result = routes.managed(routes.router().with_split(routes.obj(), ROLLOUT, canary(weight)))
    assert result[routes.backends_key] == [routes.stable(100 - weight),
                                           routes.backend("fraud-candidate", weight)]


def test_without_a_candidate_revision_there_is_one_backend(routes: Routes) -> None:
    router = routes.router()
    busy = router.with_split(routes.obj(), ROLLOUT, canary(70))
    calm = router.with_split(busy, ROLLOUT, TrafficSplit("r2"))
    assert routes.managed(calm)[routes.backends_key] == [routes.stable(100)]


# --- mirrors ---------------------------------------------------------------------------------


def test_candidate_mirror_joins_the_foreign_ones(routes: Routes) -> None:
    split = canary(0, Mirror("candidate", "r2", 20))
    result = routes.managed(routes.router().with_split(routes.obj(), ROLLOUT, split))
    assert result[routes.mirrors_key] == [*routes.foreign_mirrors,
                                          routes.mirror("fraud-candidate", 20)]


def test_zero_percent_mirror_writes_nothing(routes: Routes) -> None:
    split = canary(10, Mirror("candidate", "r2", 0))
    result = routes.managed(routes.router().with_split(routes.obj(), ROLLOUT, split))
    assert result[routes.mirrors_key] == routes.foreign_mirrors


def test_one_mirror_per_target_in_split_order(routes: Routes) -> None:
    split = canary(0, Mirror("v3", "s3", 5), Mirror("candidate", "r2", 1),
                   Mirror("v4", "s4", 100), Mirror("v3", "s3", 7))
    result = routes.managed(routes.router().with_split(routes.obj(), ROLLOUT, split))
    assert result[routes.mirrors_key] == [*routes.foreign_mirrors,
                                          routes.mirror(ROLLOUT.shadow_service("v3"), 5),
                                          routes.mirror("fraud-candidate", 1),
                                          routes.mirror(ROLLOUT.shadow_service("v4"), 100)]


def test_mirrors_are_appended_after_foreign_ones(routes: Routes) -> None:
    split = canary(0, Mirror("candidate", "r2", 25), Mirror("v3", "s", 100),
                   Mirror("v4", "s", 0))
    result = routes.managed(routes.router().with_split(routes.obj(), ROLLOUT, split))
    assert result[routes.mirrors_key] == [*routes.foreign_mirrors,
                                          routes.mirror("fraud-candidate", 25),
                                          routes.mirror(ROLLOUT.shadow_service("v3"), 100)]


def test_mirror_percent_changes_in_place_and_gone_shadows_are_dropped(routes: Routes) -> None:
    router = routes.router()
    first = router.with_split(routes.obj(), ROLLOUT, canary(0, Mirror("candidate", "r2", 10),
                                                           Mirror("old", "s1", 50)))
    second = router.with_split(first, ROLLOUT, canary(0, Mirror("candidate", "r2", 40)))
    assert routes.managed(second)[routes.mirrors_key] == [*routes.foreign_mirrors,
                                                          routes.mirror("fraud-candidate", 40)]


def test_mirrors_to_stable_or_to_an_absent_candidate_are_ignored(routes: Routes) -> None:
    router = routes.router()
    result = routes.managed(router.with_split(
        routes.obj(), ROLLOUT, canary(0, Mirror("stable", "r1", 50))))
    assert result[routes.mirrors_key] == routes.foreign_mirrors
    split = TrafficSplit("r1", mirrors=(Mirror("candidate", "r2", 50),))
    result = routes.managed(router.with_split(routes.obj(), ROLLOUT, split))
    assert result[routes.mirrors_key] == routes.foreign_mirrors


def test_no_mirrors_key_when_nothing_is_left(routes: Routes) -> None:
    original = routes.obj()
    del routes.managed(original)[routes.mirrors_key]
    result = routes.managed(routes.router().with_split(original, ROLLOUT, canary(10)))
    assert routes.mirrors_key not in result


# --- everything else as read -----------------------------------------------------------------


def test_everything_outside_our_backends_and_mirrors_is_untouched(routes: Routes) -> None:
    original = routes.obj()
    snapshot = copy.deepcopy(original)
    split = canary(30, Mirror("candidate", "r2", 5))
    result = routes.router(None).with_split(original, ROLLOUT, split)
    assert original == snapshot, "the input must not be mutated"
    after, before = result["spec"][routes.field], snapshot["spec"][routes.field]
    assert [e for i, e in enumerate(after) if i != routes.default_index] == [
        e for i, e in enumerate(before) if i != routes.default_index]
    for key in snapshot.keys() - {"spec"}:  # metadata, status, ...
        assert result[key] == snapshot[key], key
    for key in snapshot["spec"].keys() - {routes.field}:  # parentRefs, hosts, ...
        assert result["spec"][key] == snapshot["spec"][key], key
    entry = routes.managed(routes.router("predict").with_split(original, ROLLOUT, split))
    ours = {routes.backends_key, routes.mirrors_key}
    for key in routes.managed(snapshot).keys() - ours:  # name, matches, timeouts, ...
        assert entry[key] == routes.managed(snapshot)[key], key


def test_rewriting_is_idempotent(routes: Routes) -> None:
    split = canary(40, Mirror("candidate", "r2", 10), Mirror("v3", "s", 3))
    router = routes.router()
    once = router.with_split(routes.obj(), ROLLOUT, split)
    assert router.with_split(once, ROLLOUT, split) == once


# --- release ---------------------------------------------------------------------------------


def test_release_sends_everything_to_stable_and_drops_our_mirrors(routes: Routes) -> None:
    busy = routes.router().with_split(routes.obj(), ROLLOUT, canary(
        60, Mirror("candidate", "r2", 10), Mirror("v3", "s", 3)))
    entry = routes.managed(routes.router().released(busy, ROLLOUT))
    assert entry[routes.backends_key] == [routes.stable(100)]
    assert entry[routes.mirrors_key] == routes.foreign_mirrors


def test_release_removes_the_mirrors_key_when_only_ours_were_there(routes: Routes) -> None:
    original = routes.obj()
    del routes.managed(original)[routes.mirrors_key]
    router = routes.router()
    busy = router.with_split(original, ROLLOUT, canary(0, Mirror("v3", "s", 10)))
    assert routes.mirrors_key not in routes.managed(router.released(busy, ROLLOUT))


def test_release_without_the_entry_changes_nothing(routes: Routes) -> None:
    assert routes.router("absent").released(routes.obj(), ROLLOUT) == routes.obj()


def test_rewrite_entry_with_none_is_stable_only(routes: Routes) -> None:
    entry = {routes.backends_key: [routes.backend("fraud-candidate", 3)]}
    rewritten = routes.router().rewrite_entry(entry, ROLLOUT, None, "the object")
    assert rewritten == {routes.backends_key: [routes.backend("fraud-stable", 100)]}


# --- properties ------------------------------------------------------------------------------

splits = st.builds(
    lambda weight, candidate, mirror, shadow: TrafficSplit(
        "r1", "r2" if candidate else None, weight if candidate else 0,
        mirrors=(Mirror("candidate", "r2", mirror), Mirror("v9", "s", shadow))),
    st.integers(0, 100), st.booleans(), st.integers(0, 100), st.integers(0, 100))


@given(splits, splits)
def test_any_sequence_of_splits_ends_as_the_last_one_alone(routes: Routes, first: TrafficSplit,
                                                           last: TrafficSplit) -> None:
    router = routes.router()
    direct = router.with_split(routes.obj(), ROLLOUT, last)
    via = router.with_split(router.with_split(routes.obj(), ROLLOUT, first), ROLLOUT, last)
    assert via == direct
    assert sum(b["weight"] for b in routes.managed(direct)[routes.backends_key]) == 100
    assert direct["spec"][routes.field][0] == routes.obj()["spec"][routes.field][0]
    assert router.with_split(direct, ROLLOUT, last) == direct


@given(splits)
def test_release_after_any_split_equals_release_of_the_original(routes: Routes,
                                                                split: TrafficSplit) -> None:
    router = routes.router()
    busy = router.with_split(routes.obj(), ROLLOUT, split)
    assert router.released(busy, ROLLOUT) == router.released(routes.obj(), ROLLOUT)
