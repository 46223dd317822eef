"""Users for the example tests: real feature rows, true labels that arrive later, and the
metrics of the systems around the model that some examples' queries read.

- `RouterUsers` call the model router (builtin examples): each request carries a sticky unit
  (header or cookie) from a large pool, so the split is by request in effect; the answer's
  `x-prediction-token` gets its label posted to `/feedback` after a delay. With a `shop`, each
  answer is a session and a right answer a conversion, exported per variant as
  `shop_sessions_total` / `shop_conversions_total` (ab-sticky's custom queries).
- `MeshUsers` stand in for a mesh data plane that this test machine does not have (no Envoy,
  no Istio): TEST HARNESS, not a part of the product. They read the weights the operator wrote
  into the VirtualService, send each request to the Service's revision's model server and
  count `istio_requests_total{destination_service_name, response_code}` as Istio's proxies
  would (503 when the upstream refuses the connection), so the example's own PromQL judges.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from examples.demo.traffic import DelayedLabels
from tests.cluster.metrics_endpoint import MetricsEndpoint

PREDICT = "/v1/models/model:predict"
USERS = 1_000_000  # sticky units: a large pool keeps the request split close to the weights


class _Loop:
    def __init__(self, rate_per_second: float, workers: int) -> None:
        self.interval = workers / rate_per_second
        self.workers = workers
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def spawn(self, target: Callable[[int], None]) -> None:
        for index in range(self.workers):
            thread = threading.Thread(target=target, args=(index,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def paced(self, send: Callable[[random.Random], None], seed: int) -> None:
        rng = random.Random(seed)
        next_at = time.monotonic()
        while not self.stopping.is_set():
            send(rng)
            next_at += self.interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)


def _label(body: bytes) -> int | None:
    try:
        return int(json.loads(body)["predictions"][0]["label"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class RouterUsers(_Loop):
    def __init__(self, address: str, rows: Sequence[Sequence[float]], labels: Sequence[int],
                 unit: dict[str, str], *, rate_per_second: float = 50.0,
                 feedback_delay: float = 1.0, shop: MetricsEndpoint | None = None,
                 workers: int = 4) -> None:
        super().__init__(rate_per_second, workers)
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.rows, self.labels, self.unit = rows, labels, unit
        self.feedback_delay, self.shop = feedback_delay, shop
        self.labels_later = DelayedLabels(self.host, self.port)
        self.sessions: Counter[str] = Counter()
        self.conversions: Counter[str] = Counter()

    def start(self) -> None:
        self.spawn(lambda i: self.paced(self._sender(), seed=i))
        feedback = threading.Thread(target=self._feedback_loop, daemon=True)
        self.threads.append(feedback)
        feedback.start()

    def _headers(self, rng: random.Random) -> dict[str, str]:
        user = f"user-{rng.randrange(USERS)}"
        headers = {"content-type": "application/json"}
        if "cookie" in self.unit:
            headers["cookie"] = f"{self.unit['cookie']}={user}"
        else:
            headers[self.unit.get("header", "x-user-id")] = user
        return headers

    def _sender(self) -> Callable[[random.Random], None]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)

        def send(rng: random.Random) -> None:
            nonlocal connection
            index = rng.randrange(len(self.rows))
            body = json.dumps({"instances": [list(self.rows[index])]})
            try:
                connection.request("POST", PREDICT, body, self._headers(rng))
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
                with self.lock:
                    self.counts["broken"] += 1
                return
            variant = response.getheader("x-model-variant") or "none"
            prediction_id = response.getheader("x-prediction-token")
            label = int(self.labels[index])
            with self.lock:
                self.counts[f"{variant}:{response.status // 100}xx"] += 1
                if response.status < 500:
                    self._shop_session(variant, _label(answer) == label)
            if prediction_id and response.status < 500:
                self.labels_later.add(time.monotonic() + self.feedback_delay, prediction_id,
                                      label)

        return send

    def _shop_session(self, variant: str, converted: bool) -> None:
        """The shop: a right answer converts (caller holds the lock)."""
        if self.shop is None:
            return
        self.sessions[variant] += 1
        self.conversions[variant] += converted
        self.shop.set(f'shop_sessions_total{{variant="{variant}"}}', self.sessions[variant])
        self.shop.set(f'shop_conversions_total{{variant="{variant}"}}',
                      self.conversions[variant])

    def _feedback_loop(self) -> None:
        self.labels_later.send_until(self.stopping)


class MeshUsers(_Loop):
    """TEST HARNESS standing in for Istio's data plane (see the module docstring)."""

    def __init__(self, weights: Callable[[], dict[str, int]],
                 address_of: Callable[[str], str | None], rows: Sequence[Sequence[float]],
                 exporter: MetricsEndpoint, *, rate_per_second: float = 50.0,
                 workers: int = 4) -> None:
        super().__init__(rate_per_second, workers)
        self.weights, self.address_of = weights, address_of
        self.rows, self.exporter = rows, exporter
        self.current: dict[str, int] = {}
        self.requests: Counter[tuple[str, int]] = Counter()

    def start(self) -> None:
        self.current = self.weights()
        self.spawn(lambda i: self.paced(self._send, seed=i))
        follow = threading.Thread(target=self._follow, daemon=True)
        self.threads.append(follow)
        follow.start()

    def _follow(self) -> None:
        while not self.stopping.wait(0.5):
            try:
                found = self.weights()
            except Exception:  # the API server may be busy: keep the old weights
                continue
            with self.lock:
                self.current = found

    def _send(self, rng: random.Random) -> None:
        with self.lock:
            weights = dict(self.current)
        if not weights or sum(weights.values()) <= 0:
            return
        service = rng.choices(list(weights), list(weights.values()))[0]
        address = self.address_of(service)
        status = 503 if address is None else self._call(address, rng)
        with self.lock:
            self.requests[service, status] += 1
            count = self.requests[service, status]
        self.exporter.set(f'istio_requests_total{{destination_service_name="{service}",'
                          f'response_code="{status}",reporter="destination"}}', count)

    def _call(self, address: str, rng: random.Random) -> int:
        host, port = address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        body = json.dumps({"instances": [list(self.rows[rng.randrange(len(self.rows))])]})
        try:
            connection.request("POST", PREDICT, body, {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            return int(response.status)
        except (OSError, http.client.HTTPException):
            return 503  # Envoy's answer when the upstream refuses or resets the connection
        finally:
            connection.close()


def route_weights(obj: dict[str, Any] | None, field: str, entry: str, backends_key: str,
                  host: Callable[[dict[str, Any]], str]) -> dict[str, int]:
    """Service name -> weight of the managed entry of a VirtualService/HTTPRoute."""
    if obj is None:
        return {}
    for item in obj["spec"].get(field, []):
        if item.get("name") == entry:
            backends = item.get(backends_key, [])
            if len(backends) == 1 and "weight" not in backends[0]:
                return {host(backends[0]): 100}
            return {host(b): int(b.get("weight", 0)) for b in backends}
    return {}
