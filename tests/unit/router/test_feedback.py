"""The feedback store: bounded size, TTL with an injected clock, the per-variant join (pure)."""

from __future__ import annotations

import json

import pytest

from controller.contract.jsonpath import parse_path
from controller.router.feedback import FeedbackStore, Judge, LabelResult, judge, paired_outcomes

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(label: str) -> bytes:
    return json.dumps({"predictions": [{"label": label}]}).encode()


JUDGES = {v: Judge(parse_path("predictions[0].label"), "exact", 0)
          for v in ("stable", "shadow-a")}


def test_join_counts_primary_and_shadow() -> None:
    clock = Clock()
    store = FeedbackStore(10, 60.0, clock)
    store.put("p1", "stable", answer("cat"), clock.now)
    store.add("p1", "shadow-a", answer("dog"))
    entry = store.take("p1")
    assert entry is not None
    assert entry.primary == "stable"
    assert dict(judge(entry, "cat", JUDGES)) == {"stable": "correct", "shadow-a": "incorrect"}
    assert store.take("p1") is None  # joined at most once


def test_unknown_and_expired_ids() -> None:
    clock = Clock()
    store = FeedbackStore(10, 60.0, clock)
    store.put("old", "stable", answer("cat"), clock.now)
    assert store.take("never-seen") is None
    clock.now += 60.5
    assert store.take("old") is None


def test_expire_purges_old_entries() -> None:
    clock = Clock()
    store = FeedbackStore(10, 60.0, clock)
    for i in range(5):
        store.put(f"p{i}", "stable", answer("cat"), clock.now)
    clock.now += 61
    store.put("fresh", "stable", answer("cat"), clock.now)
    store.expire()
    assert len(store) == 1


def test_size_bound_evicts_oldest() -> None:
    clock = Clock()
    store = FeedbackStore(3, 60.0, clock)
    for i in range(5):
        store.put(f"p{i}", "stable", answer("cat"), clock.now)
    assert len(store) == 3
    assert store.evicted == 2
    assert store.take("p0") is None
    assert store.take("p4") is not None


def test_shadow_answer_after_eviction_is_ignored() -> None:
    store = FeedbackStore(1, 60.0, Clock())
    store.add("gone", "shadow-a", answer("dog"))
    assert len(store) == 0


def test_unreadable_prediction_counts_incorrect_and_unjudged_variants_skip() -> None:
    clock = Clock()
    store = FeedbackStore(10, 60.0, clock)
    store.put("p", "stable", b"oops", clock.now)
    store.add("p", "unjudged", answer("cat"))
    entry = store.take("p")
    assert entry is not None
    assert dict(judge(entry, "cat", JUDGES)) == {"stable": "incorrect"}


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        FeedbackStore(0, 1.0, Clock())


def test_paired_outcomes_pair_each_shadow_with_its_primary() -> None:
    results: dict[str, LabelResult] = {"stable": "correct", "candidate": "incorrect",
                                       "sh1": "correct"}
    assert sorted(paired_outcomes("stable", results)) == [
        ("candidate", "correct", "incorrect"), ("sh1", "correct", "correct")]


def test_no_pairs_without_the_primary_judged() -> None:
    assert list(paired_outcomes("stable", {"candidate": "correct"})) == []
