"""How a rollout's loop waits after a failed reconcile: a capped backoff, cut short as soon as
an API server that could not be reached answers again.

Without the probe a loop that failed during an outage sleeps out its backoff (up to 30 s) after
the API is back; kopf's relist does not wake it, since an unchanged object needs no attention.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import urllib3
from kubernetes.client.exceptions import ApiException

BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)

log = logging.getLogger(__name__)


def backoff_seconds(failures: int, cap: float) -> float:
    """The wait after the `failures`-th failure in a row (1-based): 1, 2, 5, 10, 30 s, at most
    `cap`."""
    step = BACKOFF_SECONDS[min(max(failures, 1), len(BACKOFF_SECONDS)) - 1]
    return min(step, cap)


def unreachable(error: BaseException) -> bool:
    """Whether `error` says the API server could not be reached or could not answer: refused
    or reset connections, timeouts, and the 5xx a server returns while it starts."""
    if isinstance(error, ApiException):
        return error.status in (0, 500, 502, 503, 504)
    return isinstance(error, urllib3.exceptions.HTTPError | OSError)


class ApiReturn:
    """One probe of the API's readiness shared by every loop that waits for the API.

    `waiter()` starts the probe (if none runs) and returns an event that is set when the API,
    seen not ready, is ready again. A probe whose first look finds the API ready ends without
    setting it: the failure was not an outage, and the loop keeps its backoff."""

    def __init__(self, ready: Callable[[], bool], interval_seconds: float) -> None:
        self._ready = ready  # blocking: run in a thread
        self._interval = interval_seconds
        self._back: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def waiter(self) -> asyncio.Event:
        if self._back is None or self._task is None or self._task.done():
            self._back = asyncio.Event()
            self._task = asyncio.create_task(self._probe(self._back))
        return self._back

    async def _probe(self, back: asyncio.Event) -> None:
        seen_down = False
        try:
            while True:
                if await asyncio.to_thread(self._ready):
                    if seen_down:
                        log.info("the API server is ready again: waking the waiting rollouts")
                        back.set()
                    return
                seen_down = True
                await asyncio.sleep(self._interval)
        finally:
            if self._back is back:
                self._back = None
