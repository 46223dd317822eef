"""A router on 127.0.0.1 in front of real local model backends (backends.py), on a background
event loop.

Tests drive them with blocking http.client calls from the test thread; nothing sleeps to
synchronise: waits poll a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvloop

import controller
from controller.router.feedback import FeedbackSettings
from controller.router.limits import Limits
from controller.router.proxy import ProxySettings
from controller.router.service import RouterService
from controller.router.settings import RouterSettings
from tests.integration.router.backends import Behaviour, BulkBackend, ModelBackend

T = TypeVar("T")


class LoopThread:
    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()  # the loop the router runs on in production
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run a plain function on the loop thread (loop-owned state is not thread-safe)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def wrapper() -> None:
            try:
                future.set_result(fn())
            except Exception as exc:  # pragma: no cover - surfaced to the test
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(wrapper)
        return future.result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


ADMIN_TOKEN = "harness-admin-token-" + "x" * 24


def admin_token_file() -> tempfile.TemporaryDirectory[str]:
    """A directory holding the file `token` with ADMIN_TOKEN, for --admin-token-file."""
    directory = tempfile.TemporaryDirectory(prefix="router-admin-")
    (Path(directory.name) / "token").write_text(ADMIN_TOKEN)
    return directory


class RouterClient:
    """Blocking clients of a router's serving and admin ports (`port`, `admin_port`); admin
    calls carry the admin token (`admin_token=None` sends none)."""

    port: int
    admin_port: int
    _conn: http.client.HTTPConnection | None = None

    # -- clients ---------------------------------------------------------------------------
    def request(self, method: str = "POST", path: str = "/v1/models/m:predict",
                headers: dict[str, str] | None = None, body: bytes = b'{"instances":[1]}',
                port: int | None = None) -> tuple[int, dict[str, str], bytes]:
        if port is None and self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn = self._conn if port is None else http.client.HTTPConnection("127.0.0.1", port,
                                                                          timeout=30)
        assert conn is not None
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
        except (ConnectionError, http.client.HTTPException):
            conn.close()  # reconnect next time, as a real client would
            raise
        finally:
            if port is not None:
                conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def admin(self, method: str, path: str, body: bytes = b"",
              admin_token: str | None = ADMIN_TOKEN) -> tuple[int, bytes]:
        headers = {} if admin_token is None else {"Authorization": f"Bearer {admin_token}"}
        status, _, data = self.request(method, path, headers=headers, body=body,
                                       port=self.admin_port)
        return status, data

    def put_table(self, table: dict[str, Any]) -> tuple[int, Any]:
        status, data = self.admin("PUT", "/table", json.dumps(table).encode())
        return status, json.loads(data)

    def metrics(self) -> dict[str, float]:
        """Samples by full series text, e.g. 'modelrouter_requests_total{code="2xx",...}'."""
        _, data = self.admin("GET", "/metrics")
        samples = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                samples[series] = float(value)
        return samples

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for series, value in self.metrics().items():
            base, _, rest = series.partition("{")
            if base != name:
                continue
            if all(f'{k}="{v}"' in rest for k, v in labels.items()):
                total += value
        return total

    def close_client(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class RouterProcess(RouterClient):
    """The router in its own process (`python -m controller.router`), for per-process figures
    such as its resident memory; backends run on a background loop in the test process."""

    def __init__(self, *flags: str) -> None:
        self.lt = LoopThread()
        self.backends: list[ModelBackend | BulkBackend] = []
        self.log = tempfile.NamedTemporaryFile(prefix="router-", suffix=".log")  # noqa: SIM115
        self._token_dir = admin_token_file()
        # The package this test imported (the worktree, or the compiled build), not the cwd.
        source = str(Path(controller.__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "controller.router", "--listen", "127.0.0.1:0",
             "--admin", "127.0.0.1:0", "--log-level", "INFO",
             "--admin-token-file", str(Path(self._token_dir.name) / "token"), *flags],
            stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=path))
        pattern = re.compile(r"serving on \S+:(\d+), admin on \S+:(\d+)")
        found: list[re.Match[str]] = []

        def started() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"router exited: {self.log_text()}")
            found.extend(m for m in [pattern.search(self.log_text())] if m)
            return bool(found)

        wait_for(started, 30.0, "the router process to listen")
        self.port, self.admin_port = int(found[0][1]), int(found[0][2])

    def backend(self, behaviour: Behaviour, delay_s: float = 0.0) -> ModelBackend:
        backend = ModelBackend(behaviour, delay_s)
        self.lt.run(backend.start())
        self.backends.append(backend)
        return backend

    def bulk_backend(self, size: int, framing: str = "length") -> BulkBackend:
        backend = BulkBackend(size, framing)
        self.lt.run(backend.start())
        self.backends.append(backend)
        return backend

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    def rss(self) -> int:
        """Resident memory now, bytes."""
        return self._status("VmRSS")

    def peak_rss(self) -> int:
        """The most resident memory the process ever had (VmHWM), bytes."""
        return self._status("VmHWM")

    def close(self) -> None:
        self.close_client()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for backend in self.backends:
            self.lt.run(backend.stop())
        self.lt.stop()
        self.log.close()
        self._token_dir.cleanup()


class Harness(RouterClient):
    """A router plus backends on one background loop."""

    def __init__(self, limits: Limits | None = None, proxy: ProxySettings | None = None,
                 seed: int = 7, clock: Callable[[], float] | None = None,
                 feedback: FeedbackSettings | None = None, table_writes: bool = True,
                 wall_clock: Callable[[], float] = time.time,
                 token_keys_file: str | None = None) -> None:
        self.lt = LoopThread()
        self._token_dir = admin_token_file()
        self.token_file = Path(self._token_dir.name) / "token"
        config = RouterSettings(
            host="127.0.0.1", port=0, admin_host="127.0.0.1", admin_port=0,
            limits=limits or Limits(), proxy=proxy or ProxySettings(),
            feedback=feedback or FeedbackSettings(), token_keys_file=token_keys_file,
            admin_token_file=str(self.token_file), table_writes=table_writes,
        )
        self.service = RouterService(config, rng=random.Random(seed), clock=clock,
                                     wall_clock=wall_clock)
        self.lt.run(self.service.start())
        self.port, self.admin_port = self.service.port, self.service.admin_port
        self.backends: list[ModelBackend] = []

    def backend(self, behaviour: Behaviour, delay_s: float = 0.0) -> ModelBackend:
        backend = ModelBackend(behaviour, delay_s)
        self.lt.run(backend.start())
        self.backends.append(backend)
        return backend

    def close(self) -> None:
        self.close_client()
        for backend in self.backends:
            self.lt.run(backend.stop())
        self.lt.run(self.service.close())
        self.lt.stop()
        self._token_dir.cleanup()


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    """Poll `condition` until true or fail after `timeout_s` (never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


def table(version: int, stable: str, candidate: str | None = None, weight_bp: int = 0,
          **extra: Any) -> dict[str, Any]:
    """A routing table with the common prediction rule; `extra` merges at top level."""
    rule = {"path": "predictions[0].label"}
    doc: dict[str, Any] = {
        "version": version, "salt": "test-salt",
        "stable": {"backends": [stable], "prediction": rule},
        "sticky": {"header": "x-user-id"},
        "overrides": {"header": "x-force-variant"},
    }
    if candidate is not None:
        doc["candidate"] = {"backends": [candidate], "weightBp": weight_bp, "prediction": rule}
    doc.update(extra)
    return doc
