"""Real local model backends and a router on 127.0.0.1, run on a background event loop.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvloop

import controller
from controller.router.feedback import FeedbackSettings
from controller.router.proxy import ProxySettings
from controller.router.server import Limits
from controller.router.service import RouterService
from controller.router.settings import RouterSettings

T = TypeVar("T")
# (method, path, headers, body) -> (status, JSON payload)
Behaviour = Callable[[str, str, dict[str, str], bytes], tuple[int, Any]]


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


def label_backend(label: str) -> Behaviour:
    def respond(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, {"predictions": [{"label": label, "score": 0.75}], "path": path}

    return respond


class LoopbackServer:
    """Start, address and stop of a test server on 127.0.0.1; the dataclass that uses it
    declares the fields and serves each connection in `_serve`."""

    port: int
    server: asyncio.Server | None
    handlers: set[asyncio.Task[Any]]

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


@dataclass
class ModelBackend(LoopbackServer):
    """A tiny keep-alive HTTP/1.1 model server with a pluggable behaviour and delay."""

    behaviour: Behaviour
    delay_s: float = 0.0
    port: int = 0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)  # each request head as received
    server: asyncio.Server | None = None
    handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.heads.append(head)
                self.requests.append((method, path, headers))
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)  # the backend's own latency, not a sync
                status, payload = self.behaviour(method, path, headers, body)
                data = json.dumps(payload).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(data)}\r\n\r\n".encode() + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError, ValueError):
            # Ending quietly on cancel: 3.11 streams log a cancelled handler as an error.
            pass
        finally:
            self.handlers.discard(task)
            writer.close()


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


@dataclass
class BulkBackend(LoopbackServer):
    """Answers every request with `size` generated bytes (never held in memory at once),
    framed by content-length, chunked, or by closing the connection ("length", "chunked",
    "close"); "short" declares `size` bytes but closes after half of them."""

    BLOCK = bytes(range(256)) * 4096  # 1 MiB, repeated (and cut) to make each answer

    size: int
    framing: str = "length"
    port: int = 0
    served: int = 0
    server: asyncio.Server | None = None
    handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        block = self.BLOCK
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                await reader.readexactly(int(match[1]) if match else 0)
                framing = {"length": b"content-length: %d\r\n" % self.size,
                           "short": b"content-length: %d\r\n" % self.size,
                           "chunked": b"transfer-encoding: chunked\r\n",
                           "close": b"connection: close\r\n"}[self.framing]
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                             + framing + b"\r\n")
                left = self.size // 2 if self.framing == "short" else self.size
                while left:
                    piece = block[:min(left, len(block))]
                    left -= len(piece)
                    if self.framing == "chunked":
                        writer.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    else:
                        writer.write(piece)
                    await writer.drain()  # the router's reading pace sets ours
                if self.framing == "chunked":
                    writer.write(b"0\r\n\r\n")
                await writer.drain()
                self.served += 1
                if self.framing in ("close", "short"):
                    break
        except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError):
            pass
        finally:
            self.handlers.discard(task)
            writer.close()


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
