"""A fake transport and an echo application around the router's HttpConnection: the server
protocol is driven byte by byte with no socket."""

from __future__ import annotations

import re

from controller.router.limits import Limits
from controller.router.server import HttpConnection
from controller.router.wire import Request, json_response

STATUS_RE = re.compile(rb"HTTP/1\.1 (\d{3}) ")


class FakeTransport:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closing = False
        self.paused = False
        self.eof = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closing, "write after close"
        self.out += data

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def abort(self) -> None:
        self.closing = True
        self.aborted = True


class EchoApp:
    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.rejections: list[str] = []

    def handle(self, conn: HttpConnection, req: Request) -> None:
        self.seen.append(req)
        conn.respond(json_response(200, {"n": len(self.seen)}, req.keep_alive), req.keep_alive)

    def rejected(self, reason: str) -> None:
        self.rejections.append(reason)


def connect(limits: Limits | None = None) -> tuple[HttpConnection, FakeTransport, EchoApp]:
    app = EchoApp()
    conn = HttpConnection(app, limits or Limits(), set())
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport, app


def feed_endless_value(conn: HttpConnection, transport: FakeTransport, start: bytes) -> None:
    """`start`, then a header value that never ends, 1000 bytes a read, until the connection
    closes (10 reads at the most)."""
    conn.data_received(start)
    for _ in range(10):
        conn.data_received(b"v" * 1000)
        if transport.closing:
            break


def statuses(transport: FakeTransport) -> list[int]:
    return [int(s) for s in STATUS_RE.findall(bytes(transport.out))]
