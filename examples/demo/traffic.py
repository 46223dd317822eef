"""The demo's users: sticky user ids, real feature rows, and ground truth that arrives later.

Each request carries `x-user-id` from a fixed pool, so the router's sticky split is visible; the
answer's `x-prediction-token` is remembered with the row's true label and posted to `/feedback`
after a delay, as a label from the real world would be.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class TrafficStats:
    requests: Counter[str] = field(default_factory=Counter)  # by variant
    errors: int = 0
    feedback_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {**self.requests, "errors": self.errors, "feedback": self.feedback_sent}


class DelayedLabels:
    """True labels of served predictions, each posted to the router's /feedback once due (as
    labels from the real world arrive, later), over one keep-alive connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._pending: list[tuple[float, str, int]] = []  # (due, prediction token, label)
        self._lock = threading.Lock()

    def add(self, due: float, prediction_id: str, label: int) -> None:
        with self._lock:
            self._pending.append((due, prediction_id, label))

    def send_until(self, stop: threading.Event, sent: Callable[[], None] = lambda: None) -> None:
        """Post the labels that are due, every 0.2 s until `stop`; `sent` after each one."""
        connection = self._connection()
        while not stop.is_set():
            now = time.monotonic()
            with self._lock:
                due = [p for p in self._pending if p[0] <= now]
                self._pending = [p for p in self._pending if p[0] > now]
            for _, prediction_id, label in due:
                body = json.dumps({"token": prediction_id, "label": label})
                try:
                    connection.request("POST", "/feedback", body,
                                       {"content-type": "application/json"})
                    connection.getresponse().read()
                    sent()
                except (OSError, http.client.HTTPException):  # reconnect on any broken exchange
                    connection.close()
                    connection = self._connection()
            stop.wait(0.2)

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=10)


class TrafficGenerator:
    def __init__(self, address: str, rows: Sequence[Sequence[float]], labels: Sequence[int],
                 rate_per_second: float, users: int = 500, feedback_delay: float = 2.0,
                 workers: int = 4, seed: int = 7, model_path: str = "/v1/models/model:predict",
                 ) -> None:
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.rows, self.labels = rows, labels
        self.interval = workers / rate_per_second
        self.users, self.feedback_delay, self.workers = users, feedback_delay, workers
        self.model_path = model_path
        self.random = random.Random(seed)
        self.stats = TrafficStats()
        self.first_error_at: float | None = None  # the first 5xx any user saw
        self._stop = threading.Event()
        self._labels = DelayedLabels(self.host, self.port)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.workers):
            seed = self.random.randrange(1 << 30)
            thread = threading.Thread(target=self._send_loop, args=(seed,), daemon=True,
                                      name=f"traffic-{index}")
            self._threads.append(thread)
        self._threads.append(threading.Thread(target=self._feedback_loop, daemon=True,
                                              name="feedback"))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=10)

    def _send_loop(self, seed: int) -> None:
        rng = random.Random(seed)
        connection = self._connection()
        next_at = time.monotonic()
        while not self._stop.is_set():
            index = rng.randrange(len(self.rows))
            body = json.dumps({"instances": [list(self.rows[index])]})
            headers = {"content-type": "application/json",
                       "x-user-id": f"user-{rng.randrange(self.users)}"}
            try:
                connection.request("POST", self.model_path, body, headers)
                response = connection.getresponse()
                response.read()
                variant = response.getheader("x-model-variant") or "unknown"
                prediction_id = response.getheader("x-prediction-token")
                with self.stats.lock:
                    self.stats.requests[variant] += 1
                    self.stats.errors += response.status >= 500
                    if response.status >= 500 and self.first_error_at is None:
                        self.first_error_at = time.monotonic()
                if prediction_id and response.status < 500:
                    due = time.monotonic() + self.feedback_delay
                    self._labels.add(due, prediction_id, int(self.labels[index]))
            except (OSError, http.client.HTTPException):  # reconnect on any broken exchange
                with self.stats.lock:
                    self.stats.errors += 1
                connection.close()
                connection = self._connection()
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _feedback_loop(self) -> None:
        self._labels.send_until(self._stop, self._count_feedback)

    def _count_feedback(self) -> None:
        with self.stats.lock:
            self.stats.feedback_sent += 1
