"""Explicit limits under hostile clients: bounded memory and time, clean refusals, metrics.

The memory figures come from a router in its own process (`RouterProcess`), read from
/proc/<pid>/status; every flood here is bounded in bytes, connections and time.
"""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
from pathlib import Path

import pytest

from controller.router.limits import Limits
from tests.integration.router.backends import label_backend
from tests.integration.router.harness import ADMIN_TOKEN, Harness, RouterProcess, table, wait_for

pytestmark = pytest.mark.integration
MiB = 1 << 20


class GoodTraffic:
    """Plain requests on fresh connections in a thread until stopped: (answered, failed)."""

    def __init__(self, router: RouterProcess) -> None:
        self.router = router
        self.ok = 0
        self.failed: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set() and self.ok + len(self.failed) < 2000:
            try:
                status, _, _ = self.router.request(port=self.router.port)
                if status == 200:
                    self.ok += 1
                else:
                    self.failed.append(str(status))
            except OSError as exc:
                self.failed.append(repr(exc))
            self.stop.wait(0.02)  # pacing, not synchronisation

    def __enter__(self) -> GoodTraffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def stream_unterminated_header(port: int, total: int, deadline: float) -> int:
    """Send a request head whose one header value never ends, in 64 KiB pieces, until
    `total` bytes, the deadline, or the router closes; returns the bytes sent."""
    piece = b"v" * (64 << 10)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
            while sent < total and time.monotonic() < deadline:
                sock.sendall(piece)
                sent += len(piece)
        except OSError:  # the router answered 431 and closed: what we wait for
            pass
    return sent


def test_unterminated_header_values_do_not_grow_the_router(process_router: RouterProcess
                                                           ) -> None:
    backend = process_router.backend(label_backend("cat"))
    process_router.put_table(table(1, backend.address))
    assert process_router.request()[0] == 200
    idle = process_router.rss()
    deadline = time.monotonic() + 120
    sent = [0] * 8

    def attack(i: int) -> None:
        sent[i] = stream_unterminated_header(process_router.port, 64 * MiB, deadline)

    attackers = [threading.Thread(target=attack, args=(i,)) for i in range(8)]
    with GoodTraffic(process_router) as good:
        for thread in attackers:
            thread.start()
        for thread in attackers:
            thread.join(150)
        wait_for(lambda: good.ok >= 5, 30, "good requests answered during the attack")
    assert not good.failed
    # every connection was refused long before its 64 MiB were sent
    assert all(n < 64 * MiB for n in sent), sent
    assert process_router.peak_rss() < idle + 64 * MiB, (idle, process_router.peak_rss())
    assert process_router.metric("modelrouter_rejected_requests_total", reason="headers") == 8


def test_a_head_trickled_one_crlf_at_a_time_is_cut_at_the_header_deadline() -> None:
    h = Harness(limits=Limits(header_timeout_s=1.0, read_timeout_s=60.0, idle_timeout_s=60.0))
    try:
        reply = b""
        deadline = time.monotonic() + 30
        with socket.create_connection(("127.0.0.1", h.port), timeout=10) as sock:
            sock.settimeout(0.2)
            closed = False
            while not closed and time.monotonic() < deadline:
                try:
                    if not reply:  # once the router answered, only read
                        sock.sendall(b"\r\n")  # never a request line: a CRLF per 0.2 s
                    chunk = sock.recv(4096)
                except TimeoutError:
                    continue
                except ConnectionError:  # closed by the router while a CRLF was under way
                    break
                reply += chunk
                closed = not chunk
            assert reply or closed, "the router kept the trickling connection"
        assert reply.startswith(b"HTTP/1.1 408 ")
        assert h.metric("modelrouter_rejected_requests_total", reason="header_timeout") == 1
    finally:
        h.close()


def read_reply(sock: socket.socket) -> bytes:
    """Everything the router sends until it closes the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionError:
        pass
    return b"".join(chunks)


def test_connections_over_the_limit_are_shed_with_503(caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    h = Harness(limits=Limits(max_connections=20))
    held: list[socket.socket] = []
    try:
        backend = h.backend(label_backend("cat"))
        h.put_table(table(1, backend.address))
        for _ in range(20):  # the limit, each served once and kept open (keep-alive)
            sock = socket.create_connection(("127.0.0.1", h.port), timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
            held.append(sock)
        replies = []
        for _ in range(30):  # the flood above it
            with socket.create_connection(("127.0.0.1", h.port), timeout=10) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                replies.append(read_reply(sock))
        assert all(r.startswith(b"HTTP/1.1 503 ") for r in replies), replies[:3]
        assert all(b"\r\nretry-after: 1\r\n" in r for r in replies)
        assert h.metric("modelrouter_rejected_requests_total", reason="overload") == 30
        assert len(backend.requests) == 20  # nothing of the flood reached a backend
        wait_for(lambda: any("refused" in r.getMessage() and r.levelname == "WARNING"
                             for r in caplog.records), what="the overload log line")
        overload_lines = [r for r in caplog.records if "--max-connections" in r.getMessage()]
        assert len(overload_lines) == 1  # rate-limited: one line for the whole flood
        for sock in held:
            sock.close()
        # capacity comes back as the held connections go
        wait_for(lambda: h.request(port=h.port)[0] == 200, what="serving again")
    finally:
        for sock in held:
            sock.close()
        h.close()


def test_the_routers_own_fd_exhaustion_is_not_a_backend_error(process_router: RouterProcess
                                                              ) -> None:
    pid = process_router.proc.pid
    fd_dir = Path(f"/proc/{pid}/fd")

    def open_fds() -> set[int]:
        return {int(fd.name) for fd in fd_dir.iterdir()}

    at_start = open_fds()
    backend = process_router.backend(label_backend("cat"))
    process_router.put_table(table(1, backend.address))
    wait_for(lambda: open_fds() == at_start, what="the admin connection to close")
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    # Room for exactly one more descriptor (the lowest free number; the limit bounds numbers):
    # the client's connection gets it, the connection to the backend finds none.
    used = open_fds()
    lowest_free = min(set(range(len(used) + 1)) - used)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free + 1, hard))
    try:
        with socket.create_connection(("127.0.0.1", process_router.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 2\r\n\r\n{}")
            reply = sock.recv(65536)
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    assert reply.startswith(b"HTTP/1.1 503 "), reply
    assert b"\r\nretry-after: 1\r\n" in reply
    assert process_router.metric("modelrouter_rejected_requests_total",
                                 reason="router_resources") == 1
    assert process_router.metric("modelrouter_errors_total") == 0  # not the backend's error
    assert process_router.metric("modelrouter_requests_total") == 0
    wait_for(lambda: "out of file descriptors" in process_router.log_text(),
             what="the resources log line")
    assert process_router.request()[0] == 200


def test_a_chunk_declared_over_the_body_limit_gets_413_before_the_rest_is_sent() -> None:
    h = Harness(limits=Limits(max_body_bytes=1024, read_timeout_s=30.0))
    try:
        with socket.create_connection(("127.0.0.1", h.port), timeout=20) as sock:
            sock.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n100000\r\n" + b"x" * 10)
            # The rest of the 1 MiB chunk is never sent: the answer must come without it,
            # long before the 30 s read timeout.
            reply = read_reply(sock)
        assert reply.startswith(b"HTTP/1.1 413 "), reply
        assert h.metric("modelrouter_rejected_requests_total", reason="body") == 1
        assert h.metric("modelrouter_rejected_requests_total", reason="read_timeout") == 0
    finally:
        h.close()


def test_expect_continue_with_a_body_over_the_limit_gets_413_before_any_100(harness: Harness
                                                                           ) -> None:
    with socket.create_connection(("127.0.0.1", harness.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\n"
                     b"Expect: 100-continue\r\nContent-Length: 5000000\r\n\r\n")
        reply = read_reply(sock)  # the body is never sent
    assert reply.startswith(b"HTTP/1.1 413 "), reply
    assert b" 100 " not in reply


@pytest.mark.parametrize(("admin", "method", "path"), [
    (False, "POST", "/feedback"), (True, "POST", "/feedback"), (True, "PUT", "/table"),
])
def test_deeply_nested_json_gets_400_never_500(harness: Harness, admin: bool, method: str,
                                               path: str) -> None:
    port = harness.admin_port if admin else harness.port
    token = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if admin else {}  # past the auth
    # 60,000 levels: far past the interpreter's recursion, within --max-feedback-bytes
    status, _, body = harness.request(method, path, body=b"[" * 60_000, port=port,
                                      headers=token)
    assert status == 400
    assert "nested deeper than 64" in json.loads(body)["error"]
    assert harness.request(method, path, body=b"[" * 64 + b"]" * 64, port=port,
                           headers=token)[0] in (400, 422)
