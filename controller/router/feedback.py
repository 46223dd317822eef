"""Delayed ground truth (pure): feedback parsing, the replay filter, late shadow answers.

The join itself travels in the prediction token (controller.router.token), so a label needs
no stored prediction. What a replica keeps is bounded by count: the ids of tokens already
counted (the replay filter) and the predictions of shadows that answered after the primary.
Clocks are passed in, so tests and the scale bench control time.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from controller.contract.metrics import DEFAULT_UNIT_BUCKETS
from controller.router.comparator import label_text
from controller.router.token import LabelResult
from controller.router.wire import json_too_deep

MAX_LABEL_CHARS = 1024


class ReplayFilter:
    """The token ids counted within their validity, at most `max_entries` of them.

    Full, it forgets the oldest-issued id and from then on refuses every token issued at or
    before that one ("replay_window"): it never counts a token twice, at the price of refusing
    very old labels under pressure (counted, so the bound shows up in the metrics)."""

    def __init__(self, max_entries: int, validity_s: float) -> None:
        if max_entries < 1 or validity_s <= 0:
            raise ValueError("max_entries must be >= 1 and validity_s > 0")
        self.max_entries = max_entries
        self.validity_s = validity_s
        self._seen: set[int] = set()
        self._by_issue: list[tuple[int, int]] = []  # (issued, key), a heap
        self.floor = -1  # tokens issued at or before this second are refused
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, token_id: str, issued: int, now: float) -> str | None:
        """None if this token is counted now (and remembered), else the refusal reason."""
        self.expire(now)
        if issued <= self.floor:
            return "replay_window"
        key = int.from_bytes(hashlib.blake2b(token_id.encode(), digest_size=8).digest(), "big")
        if key in self._seen:
            return "replayed"
        self._seen.add(key)
        heapq.heappush(self._by_issue, (issued, key))
        while len(self._seen) > self.max_entries:
            old_issued, old_key = heapq.heappop(self._by_issue)
            self._seen.discard(old_key)
            self.floor = max(self.floor, old_issued)
            self.evicted += 1
        return None

    def expire(self, now: float) -> None:
        """Forget ids of expired tokens: they are refused as expired anyway."""
        heap = self._by_issue
        while heap and heap[0][0] + self.validity_s < now:
            self._seen.discard(heapq.heappop(heap)[1])


class LateShadows:
    """Predictions of shadows that answered after the primary (so are not in its token), by
    token id: joined only if the label reaches this replica while the entry lives."""

    def __init__(self, max_entries: int, ttl_s: float) -> None:
        if max_entries < 1 or ttl_s <= 0:
            raise ValueError("max_entries must be >= 1 and ttl_s > 0")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, tuple[tuple[str, str], ...]]] = (
            OrderedDict())
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, token_id: str, variant: str, code: str, now: float) -> None:
        found = self._entries.get(token_id)
        if found is not None:
            self._entries[token_id] = (found[0], (*found[1], (variant, code)))
            return
        self._entries[token_id] = (now, ((variant, code),))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.evicted += 1

    def take(self, token_id: str, variant: str, now: float) -> str | None:
        found = self._entries.get(token_id)
        if found is None or now - found[0] > self.ttl_s:
            return None
        for name, code in found[1]:
            if name == variant:
                return code
        return None

    def expire(self, now: float) -> None:
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if now - oldest[0] <= self.ttl_s:
                return
            entries.popitem(last=False)


class FeedbackError(ValueError):
    """A refused feedback body; the message names the field."""


def _no_constant(name: str) -> object:
    raise FeedbackError(f"{name} is not a number JSON allows")


def parse_feedback(body: bytes, max_depth: int, max_reward: float
                   ) -> tuple[str, str | None, float | None]:
    """(token, label as text or None, reward or None); FeedbackError naming the field.

    A reward is a numeric outcome (a click, a purchase value, a rating): finite, within
    [0, max_reward], since it is added to a counter that must never go down."""
    if json_too_deep(body, max_depth):
        raise FeedbackError(f"JSON nested deeper than {max_depth} levels")
    try:
        payload = json.loads(body, parse_constant=_no_constant)
    except FeedbackError as error:
        raise FeedbackError(f"body: {error}") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise FeedbackError("body must be JSON") from None
    if not isinstance(payload, dict):
        raise FeedbackError("body must be a JSON object")
    token = payload.get("token")
    if not isinstance(token, str) or not token:
        hint = " (predictionId is gone: send the x-prediction-token header's value)" if (
            "predictionId" in payload) else ""
        raise FeedbackError("token must be a non-empty string" + hint)
    label, reward = payload.get("label"), payload.get("reward")
    if label is None and reward is None:
        raise FeedbackError("one of label or reward is required")
    if isinstance(label, dict | list):
        raise FeedbackError("label must be a JSON scalar")
    if isinstance(label, float) and not math.isfinite(label):
        raise FeedbackError("label must be finite")
    text = None if label is None else label_text(label)
    if text is not None and len(text) > MAX_LABEL_CHARS:
        raise FeedbackError(f"label must be at most {MAX_LABEL_CHARS} characters")
    value = None
    if reward is not None:
        if isinstance(reward, bool) or not isinstance(reward, int | float):
            raise FeedbackError("reward must be a number")
        value = float(reward) if not isinstance(reward, int) or abs(reward) < 2**63 else math.inf
        if not math.isfinite(value) or not 0 <= value <= max_reward:
            raise FeedbackError(f"reward must be a finite number from 0 to {max_reward:g}")
    return token, text, value


@dataclass(frozen=True, slots=True)
class FeedbackSettings:
    """The bounds of the label join (each exported as modelrouter_limit{setting})."""

    token_validity_s: float = 30 * 86_400.0  # labels may come this long after the prediction
    replay_filter_entries: int = 1_000_000  # token ids remembered against replays
    late_shadow_entries: int = 100_000  # shadow answers that came after the primary's
    late_shadow_ttl_s: float = 3_600.0
    max_feedback_bytes: int = 64 << 10  # a larger feedback body gets 413
    max_reward: float = 1e12
    clock_skew_s: float = 300.0  # a token issued this far in the future is still accepted
    # Unit buckets of the label series (the router's --unit-buckets): a token's bucket is
    # counted within 0..unit_buckets-1.
    unit_buckets: int = DEFAULT_UNIT_BUCKETS


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
