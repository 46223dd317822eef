"""Three router processes behind a round-robin balancer: labels join on any replica, across a
replica killed and restarted, with one key ring (what a Service in front of the Deployment
does; the balancer here, like kube-proxy, spreads connections and skips a dead endpoint)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller.contract.keyring import new_keyring, rotated_keyring
from tests.integration.router.backends import LoopbackServer, ModelBackend, label_backend
from tests.integration.router.harness import LoopThread, RouterProcess, table, wait_for

pytestmark = pytest.mark.integration
LABELS = 240


@dataclass
class RoundRobin(LoopbackServer):
    """Each client connection goes to the next live endpoint (refused ones are skipped)."""

    endpoints: list[int] = field(default_factory=list)
    port: int = 0
    server: asyncio.Server | None = None
    handlers: set[asyncio.Task[Any]] = field(default_factory=set)
    turn: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            for _ in range(len(self.endpoints)):
                port = self.endpoints[self.turn % len(self.endpoints)]
                self.turn += 1
                try:
                    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    continue
                await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
                return
        except asyncio.CancelledError:
            pass
        finally:
            self.handlers.discard(task)
            writer.close()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def call(port: int, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def predict(port: int, user: int) -> str:
    status, headers, _ = call(port, "/v1/models/m:predict", b'{"instances": [%d]}' % user)
    assert status == 200
    return headers["x-prediction-token"]


def label(port: int, token: str, value: str = "cat") -> tuple[int, Any]:
    status, _, data = call(port, "/feedback", json.dumps({"token": token,
                                                          "label": value}).encode())
    return status, json.loads(data)


class Fleet:
    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="router-fleet-")
        root = Path(self.dir.name)
        self.keys, self.table = root / "keys.json", root / "table.json"
        self.write_keys(new_keyring())
        self.lt = LoopThread()
        self.backend = ModelBackend(label_backend("cat"))
        self.lt.run(self.backend.start())
        self.table.write_text(json.dumps(table(1, self.backend.address, window="v1/step-0",
                                               experiment="ns/model")))
        self.replicas = [self.start() for _ in range(3)]
        self.balancer = RoundRobin([r.port for r in self.replicas])
        self.lt.run(self.balancer.start())
        self.lost: list[RouterProcess] = []

    def start(self) -> RouterProcess:
        replica = RouterProcess("--token-keys-file", str(self.keys),
                                "--table-file", str(self.table))
        wait_for(lambda: replica.metric("modelrouter_table_version") == 1, 30.0, "its table")
        return replica

    def write_keys(self, ring: dict[str, object]) -> None:
        staged = self.keys.with_suffix(".new")
        staged.write_text(json.dumps(ring))
        staged.replace(self.keys)  # a new inode at once, as a Secret volume update

    def restart(self, index: int) -> dict[str, float]:
        """SIGKILL replica `index` after a last scrape of its counters, start a new one."""
        victim = self.replicas[index]
        scraped = victim.metrics()
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(10)
        self.lost.append(victim)
        self.replicas[index] = self.start()
        self.balancer.endpoints[index] = self.replicas[index].port
        return scraped

    def close(self) -> None:
        for replica in self.replicas + self.lost:
            replica.close()
        self.lt.run(self.balancer.stop())
        self.lt.run(self.backend.stop())
        self.lt.stop()
        self.dir.cleanup()


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    return sum(value for series, value in samples.items()
               if series.partition("{")[0] == name
               and all(f'{k}="{v}"' in series for k, v in labels.items()))


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    f = Fleet()
    try:
        yield f
    finally:
        f.close()


def test_every_label_is_counted_once_across_replicas_and_a_restart(fleet: Fleet) -> None:
    balancer = fleet.balancer.port
    first, second = fleet.replicas[0].port, fleet.replicas[1].port
    # predictions through one replica, their labels through another
    direct = [predict(first, user) for user in range(LABELS // 4)]
    spread = [predict(balancer, user) for user in range(LABELS // 4, LABELS // 2)]
    statuses = [label(second, token)[0] for token in direct]
    statuses += [label(balancer, token)[0] for token in spread[: len(spread) // 2]]
    # mid-run: a replica dies (after its last scrape) and comes back empty
    scraped = fleet.restart(1)
    pending = [predict(balancer, user) for user in range(LABELS // 2, LABELS)]
    statuses += [label(balancer, token)[0] for token in spread[len(spread) // 2:] + pending]
    assert statuses == [200] * LABELS
    final = [r.metrics() for r in fleet.replicas]
    counted = total(scraped, "modelrouter_feedback_total") + sum(
        total(s, "modelrouter_feedback_total") for s in final)
    assert counted == LABELS  # none lost, none twice
    assert total(scraped, "modelrouter_feedback_total", served="v1/step-0") + sum(
        total(s, "modelrouter_feedback_total", served="v1/step-0", variant="stable",
              result="correct") for s in final) == LABELS
    # a replay to the replica that counted it is refused and counted as such
    replayed = fleet.replicas[0]
    replay_target = fleet.replicas[2].port
    refused = [label(replay_target, token) for token in pending[:3]]
    refused += [label(replay_target, token) for token in pending[:3]]
    assert [status for status, _ in refused[3:]] == [409] * 3
    assert fleet.replicas[2].metric("modelrouter_feedback_refused_total",
                                    reason="replayed") >= 3
    assert replayed.proc.poll() is None


def test_forged_and_tampered_tokens_are_refused_by_every_replica(fleet: Fleet) -> None:
    token = predict(fleet.replicas[0].port, 1)
    head, kid, payload, mac = token.split(".")
    forged = ".".join((head, kid, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), mac))
    for replica in fleet.replicas:
        assert label(replica.port, forged)[1]["reason"] == "bad_signature"
        assert label(replica.port, "v1.k1.e30.AAAAAAAAAAAAAAAAAAAAAA")[1]["reason"] == (
            "bad_signature")
        assert replica.metric("modelrouter_feedback_refused_total", reason="bad_signature") == 2
        assert replica.metric("modelrouter_feedback_total") == 0
    assert label(fleet.replicas[2].port, token)[0] == 200


def test_key_rotation_keeps_tokens_in_flight_valid_on_every_replica(fleet: Fleet) -> None:
    before = [predict(r.port, 7) for r in fleet.replicas]
    assert {t.split(".")[1] for t in before} == {"k1"}
    fleet.write_keys(rotated_keyring(json.loads(fleet.keys.read_text()), time.time(), 3600.0))
    for replica in fleet.replicas:
        wait_for(signs_with(replica.port, "k2"), 15.0, "the rotated key")
    # every old token verifies on a replica that did not issue it
    for index, token in enumerate(before):
        assert label(fleet.replicas[(index + 1) % 3].port, token)[0] == 200


def signs_with(port: int, key_id: str) -> Callable[[], bool]:
    return lambda: predict(port, 7).split(".")[1] == key_id
