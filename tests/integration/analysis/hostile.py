"""Hostile "Prometheus" servers on 127.0.0.1, for the provider's limits.

Each server answers every connection with one behaviour (a huge body, a trickle, an error
page). Every one is bounded: in bytes (each behaviour has a maximum), and in time (a send
blocked for SEND_TIMEOUT_SECONDS ends the exchange, pacing waits end when the server is
closed, and close() joins every handler thread).
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SEND_TIMEOUT_SECONDS = 10.0
HEAD_LIMIT = 64 * 1024
MiB = 1024 * 1024


class _StoppedError(Exception):
    pass


@dataclass
class Exchange:
    """One connection as the server saw it."""

    request_line: str = ""
    sent: int = 0
    ended: str = ""  # "answered", "client gone" or "stopped"


class Peer:
    """What a behaviour may do: read the request, send bytes, and wait between them (until
    the server stops)."""

    def __init__(self, server: HostileServer, sock: socket.socket, stopped: threading.Event,
                 exchange: Exchange) -> None:
        self._server, self._sock, self._stopped = server, sock, stopped
        self.exchange = exchange

    def read_head(self) -> None:
        """The request line and headers (an HTTP behaviour's first step)."""
        head = b""
        while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
            data = self._sock.recv(4096)
            if not data:
                break
            head += data
        self.exchange.request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        self._server.request_arrived()

    def receive(self) -> bytes:
        """Whatever the client sent first (e.g. a TLS ClientHello)."""
        data = self._sock.recv(HEAD_LIMIT)
        self._server.request_arrived()
        return data

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)
        self.exchange.sent += len(data)

    def pause(self, seconds: float) -> None:
        if self._stopped.wait(seconds):
            raise _StoppedError


Behaviour = Callable[[Peer], None]


class HostileServer:
    def __init__(self, behaviour: Behaviour) -> None:
        self.exchanges: list[Exchange] = []
        self.connections = 0  # accepted so far
        self.requests = 0  # request heads read so far
        self._finished = threading.Condition()
        self._stopped = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._handle(self.request, behaviour)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = False
        self._server.block_on_close = True  # server_close() joins the handlers
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def _handle(self, sock: socket.socket, behaviour: Behaviour) -> None:
        exchange = Exchange()
        with self._finished:
            self.connections += 1
        sock.settimeout(SEND_TIMEOUT_SECONDS)
        try:
            behaviour(Peer(self, sock, self._stopped, exchange))
            exchange.ended = "answered"
        except _StoppedError:
            exchange.ended = "stopped"
        except OSError:  # reset, broken pipe, or a send blocked too long
            exchange.ended = "client gone"
        finally:
            with self._finished:
                self.exchanges.append(exchange)
                self._finished.notify_all()

    def wait_exchanges(self, count: int = 1, timeout: float = 30.0) -> list[Exchange]:
        """The first `count` finished exchanges (fails after `timeout`: a bound, not a pace)."""
        with self._finished:
            done = self._finished.wait_for(lambda: len(self.exchanges) >= count, timeout)
        assert done, f"{len(self.exchanges)} of {count} exchanges finished in {timeout}s"
        return self.exchanges[:count]

    def request_arrived(self) -> None:
        with self._finished:
            self.requests += 1
            self._finished.notify_all()

    def wait_requests(self, count: int = 1, timeout: float = 30.0) -> None:
        """Until `count` requests have arrived (fails after `timeout`: a bound, not a pace)."""
        with self._finished:
            arrived = self._finished.wait_for(lambda: self.requests >= count, timeout)
        assert arrived, f"{self.requests} of {count} requests arrived in {timeout}s"

    def close(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=30)


@contextmanager
def hostile(behaviour: Behaviour) -> Iterator[HostileServer]:
    server = HostileServer(behaviour)
    try:
        yield server
    finally:
        server.close()


# --- behaviours -----------------------------------------------------------------------------

VECTOR_HEAD = b'{"status":"success","data":{"resultType":"vector","result":['
VECTOR_ITEM = b'{"metric":{"pod":"p"},"value":[1772366400,"1"]},'
VECTOR_TAIL = b'{"metric":{},"value":[1772366400,"1"]}]}}'
OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"


def huge(total: int = 100 * MiB, *, chunked: bool = False) -> Behaviour:
    """A valid instant-vector answer of `total` bytes, generated on the fly (one 64 KiB
    chunk sent over and over), without a Content-Length."""
    repeat = (64 * 1024) // len(VECTOR_ITEM)
    chunk = VECTOR_ITEM * repeat

    def frame(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data

    def behave(peer: Peer) -> None:
        peer.read_head()
        peer.send(OK_HEAD + (b"Transfer-Encoding: chunked\r\n" if chunked else b"") + b"\r\n")
        peer.send(frame(VECTOR_HEAD))
        body = len(VECTOR_HEAD)
        while body + len(chunk) + len(VECTOR_TAIL) <= total:
            peer.send(frame(chunk))
            body += len(chunk)
        peer.send(frame(VECTOR_TAIL) + (b"0\r\n\r\n" if chunked else b""))

    return behave


def declared(length: int) -> Behaviour:
    """Announces a Content-Length of `length` and sends nothing more."""

    def behave(peer: Peer) -> None:
        peer.read_head()
        peer.send(OK_HEAD + b"Content-Length: %d\r\n\r\n" % length)
        peer.pause(SEND_TIMEOUT_SECONDS)

    return behave


def trickle(interval: float = 0.2, *, limit: int = 300, headers_too: bool = False
            ) -> Behaviour:
    """One byte every `interval` seconds, at most `limit` bytes (60 s at the defaults): of
    the body after prompt headers, or of the status line itself with `headers_too`."""
    endless = (VECTOR_HEAD + VECTOR_ITEM * (limit // len(VECTOR_ITEM) + 1))[:limit]

    def behave(peer: Peer) -> None:
        peer.read_head()
        data = endless
        if headers_too:
            data = (OK_HEAD + b"\r\n" + endless)[:limit]
        else:
            peer.send(OK_HEAD + b"\r\n")
        for byte in data:
            peer.send(bytes([byte]))
            peer.pause(interval)

    return behave


def tls_trickle(interval: float = 0.2, *, limit: int = 300) -> Behaviour:
    """The start of a TLS ServerHello record (16 KiB announced), then one byte every
    `interval` seconds: a handshake that never completes."""

    def behave(peer: Peer) -> None:
        peer.receive()  # the ClientHello
        peer.send(b"\x16\x03\x03\x40\x00")
        for _ in range(limit):
            peer.send(b"\x02")
            peer.pause(interval)

    return behave


def status(code: int, body: bytes, content_type: str = "text/html", *, extra: bytes = b""
           ) -> Behaviour:
    """A complete answer with `code`, `body` and one `extra` header line, if any."""
    head = b"HTTP/1.1 %d Hostile\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
        code, content_type.encode(), len(body))

    def behave(peer: Peer) -> None:
        peer.read_head()
        peer.send(head + (extra + b"\r\n" if extra else b"") + b"Connection: close\r\n\r\n"
                  + body)

    return behave


def answer(body: bytes) -> Behaviour:
    """A 200 with `body` (a Prometheus answer, or anything else)."""
    return status(200, body, "application/json")


def held(release: threading.Event, body: bytes, limit_seconds: float = 60.0) -> Behaviour:
    """Sends the headers, then holds the body until `release` is set (at most
    `limit_seconds`), one byte every 0.2 s: a slow Prometheus another rollout is waiting on."""

    def behave(peer: Peer) -> None:
        peer.read_head()
        peer.send(OK_HEAD + b"\r\n")
        for _ in range(int(limit_seconds / 0.2)):
            if release.is_set():
                break
            peer.send(b" ")
            peer.pause(0.2)
        peer.send(body)

    return behave
