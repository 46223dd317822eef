"""Delayed ground truth: a bounded, TTL'd store of predictions, joined by prediction id (pure).

Entries are kept in insertion order, which is time order, so both the size bound and the TTL
evict from the head in O(1) amortised.  The clock is injected so tests control expiry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

from controller.contract.jsonpath import Step
from controller.router.comparator import is_missing, prediction_of, same_prediction

LabelResult = Literal["correct", "incorrect"]


class Stored(NamedTuple):
    """A joined entry.  Inside the store entries are plain tuples of str/bytes/float, which
    the cyclic GC untracks: a million entries must not make every full collection a spike."""

    created: float
    primary: str
    # variant -> raw response body (parsed only when feedback arrives).
    bodies: dict[str, bytes]


@dataclass(frozen=True, slots=True)
class Judge:
    """How to read and compare one variant's prediction with a label."""

    steps: tuple[Step, ...]
    mode: str
    tolerance_ppm: int


# (created, primary variant, ((variant, body), ...)): tuples all the way down, no dicts,
# so the GC can untrack entries.
_Entry = tuple[float, str, tuple[tuple[str, bytes], ...]]


class FeedbackStore:
    def __init__(self, max_entries: int, ttl_s: float, clock: Callable[[], float]) -> None:
        if max_entries < 1 or ttl_s <= 0:
            raise ValueError("max_entries must be >= 1 and ttl_s > 0")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, prediction_id: str, variant: str, body: bytes, created: float) -> None:
        entries = self._entries
        if prediction_id in entries:
            self.add(prediction_id, variant, body)
            return
        entries[prediction_id] = (created, variant, ((variant, body),))
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
            self.evicted += 1

    def add(self, prediction_id: str, variant: str, body: bytes) -> None:
        """A shadow's answer for a stored prediction (ignored once the primary is gone)."""
        entry = self._entries.get(prediction_id)
        if entry is not None:
            created, primary, bodies = entry
            self._entries[prediction_id] = (created, primary, (*bodies, (variant, body)))

    def take(self, prediction_id: str) -> Stored | None:
        """Remove and return a live entry; each prediction is joined at most once."""
        entry = self._entries.pop(prediction_id, None)
        if entry is None or self.clock() - entry[0] > self.ttl_s:
            return None
        return Stored(entry[0], entry[1], dict(entry[2]))

    def expire(self) -> None:
        """Drop entries past the TTL (called once per telemetry flush)."""
        now = self.clock()
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if now - oldest[0] <= self.ttl_s:
                return
            entries.popitem(last=False)


def judge(
    entry: Stored, label: object, judges: dict[str, Judge]
) -> Iterator[tuple[str, LabelResult]]:
    """(variant, correct|incorrect) for each stored answer whose variant has a judge."""
    for variant, body in entry.bodies.items():
        rule = judges.get(variant)
        if rule is None:
            continue
        predicted = prediction_of(body, rule.steps)
        if is_missing(predicted):
            yield variant, "incorrect"
            continue
        ok = same_prediction(predicted, label, rule.mode, rule.tolerance_ppm)
        yield variant, "correct" if ok else "incorrect"


def paired_outcomes(primary: str, results: dict[str, LabelResult]
                    ) -> Iterator[tuple[str, LabelResult, LabelResult]]:
    """(shadow, primary's result, shadow's result) for each shadow judged on the same request
    as its primary: the pairs a paired (McNemar) comparison of accuracy counts."""
    ours = results.get(primary)
    if ours is None:
        return
    for variant, theirs in results.items():
        if variant != primary:
            yield variant, ours, theirs
