"""Events that outlive a failed POST: each decision's Events are kept, named after the state
they describe, until the API holds them.

A reconcile writes the status, then posts its Events. If the POST fails (or the status write's
answer is lost although the write landed), the next reconcile finds the rollout already in that
state and decides no Events of its own; so the Events wait here, and every reconcile that finds
the rollout in their state posts them again. The name is a digest of (rollout uid, state,
Event): the same Event of the same state always has the same name, so posting it twice, or
deciding it twice, leaves one Event.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from controller.rollout.model import Event

Key = tuple[str, str]
MAX_NAME_PREFIX = 200  # an Event name is a DNS subdomain (253); the digest takes the rest


def event_name(rollout: str, uid: str, state: dict[str, Any], event: Event) -> str:
    """The name of `event` of a rollout whose status is `state`."""
    identity = json.dumps([uid, state, event.type, event.reason, event.message],
                          sort_keys=True, default=str)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:20]
    return f"{rollout[:MAX_NAME_PREFIX]}.{digest}"


@dataclass(frozen=True)
class PendingEvent:
    name: str
    involved: dict[str, Any]  # the rollout the Event is about (apiVersion, kind, metadata)
    event: Event


@dataclass
class _Tentative:
    uid: str
    state: dict[str, Any]
    events: list[PendingEvent] = field(default_factory=list)


class Outbox:
    """Per rollout: the Events of the state being written (tentative: that state may never be
    reached), and the Events of states reached that the API does not hold yet (kept until
    posted, at most MAX_KEPT). A fact about this process: an operator killed before it
    posts them loses them."""

    MAX_KEPT = 64

    def __init__(self) -> None:
        self._tentative: dict[Key, _Tentative] = {}
        self._reached: dict[Key, dict[str, PendingEvent]] = {}
        self._lock = threading.Lock()

    def expect(self, key: Key, rollout: dict[str, Any], state: dict[str, Any],
               events: list[Event]) -> None:
        """The rollout is being sent to `state`, which these `events` describe; they replace
        the Events of a state that was expected but never reached."""
        meta = rollout["metadata"]
        involved = {"apiVersion": rollout.get("apiVersion"), "kind": rollout.get("kind"),
                    "metadata": {k: meta.get(k) for k in
                                 ("name", "namespace", "uid", "resourceVersion")}}
        pending = [PendingEvent(event_name(key[1], meta["uid"], state, e), involved, e)
                   for e in events]
        with self._lock:
            self._tentative[key] = _Tentative(meta["uid"], state, pending)

    def reached(self, key: Key, uid: str, state: dict[str, Any]) -> list[PendingEvent]:
        """The rollout is in `state` (written, or read back): what waits to be posted."""
        with self._lock:
            tentative = self._tentative.get(key)
            kept = self._reached.setdefault(key, {})
            if tentative is not None and tentative.uid == uid and tentative.state == state:
                del self._tentative[key]
                for pending in tentative.events:
                    kept.setdefault(pending.name, pending)
                while len(kept) > self.MAX_KEPT:
                    del kept[next(iter(kept))]
            if not kept:
                del self._reached[key]
                return []
            return list(kept.values())

    def posted(self, key: Key, name: str) -> None:
        with self._lock:
            kept = self._reached.get(key)
            if kept is not None:
                kept.pop(name, None)
                if not kept:
                    del self._reached[key]

    def waiting(self, key: Key) -> bool:
        """Whether Events of a reached state wait for the API."""
        with self._lock:
            return bool(self._reached.get(key))

    def forget(self, key: Key) -> None:
        """The rollout is gone."""
        with self._lock:
            self._tentative.pop(key, None)
            self._reached.pop(key, None)
