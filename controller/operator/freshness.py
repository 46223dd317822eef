"""Bodies known to be newer than what the watch has delivered yet.

The reconciler reads a rollout from the watch's cache. Right after its own status write (or a
read from the API) it knows a newer body than the cache holds; deciding on the older one could
move traffic backwards, so that body is kept until the watch delivers its version.
"""

from __future__ import annotations

import threading
from typing import Any

Key = tuple[str, str]
Body = dict[str, Any]


def resource_version(body: Body) -> int | None:
    """The resourceVersion as an integer that grows with every write, as etcd-backed
    apiservers serve it (KEP-5504 makes it a guarantee); None if it is not one."""
    version = str(body["metadata"].get("resourceVersion", ""))
    return int(version) if version.isdigit() else None


class AheadOfWatch:
    """Reconcile threads remember bodies; the event loop drops them as the watch catches up."""

    def __init__(self) -> None:
        self._bodies: dict[Key, Body] = {}
        self._lock = threading.Lock()

    def remember(self, key: Key, body: Body) -> None:
        with self._lock:
            self._bodies[key] = body

    def forget(self, key: Key) -> None:
        with self._lock:
            self._bodies.pop(key, None)

    def delivered(self, key: Key, body: Body) -> None:
        """The watch delivered `body`: a kept body no newer than it is no longer needed."""
        with self._lock:
            kept = self._bodies.get(key)
            if kept is not None and _not_older(body, kept):
                del self._bodies[key]

    def newest(self, key: Key, cached: Body) -> Body | None:
        """The body to decide on: `cached`, or a kept newer one; None if the versions do not
        compare (the caller must read the API)."""
        with self._lock:
            kept = self._bodies.get(key)
        if kept is None:
            return cached
        cached_version, kept_version = resource_version(cached), resource_version(kept)
        if cached_version is None or kept_version is None:
            return None
        return kept if cached_version < kept_version else cached

    def __len__(self) -> int:
        return len(self._bodies)


def _not_older(body: Body, than: Body) -> bool:
    version, other = resource_version(body), resource_version(than)
    return version is not None and other is not None and version >= other
