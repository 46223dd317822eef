"""Keep-alive connection pools to model backends (HTTP/1.1 client side, httptools).

A call is one request/response on one pooled connection, bounded by a deadline.  A pooled
connection the backend closed while idle is retried once on a fresh connection, but only if
no response byte arrived (the request was never processed).

A response body is buffered up to the call's `max_body`; past it the response is streamed:
handed to the call's `Sink` as it arrives (the client may pause reading from the backend), or
drained and dropped when there is no sink (a shadow copy).  A streamed call ends with the
error STREAMED and an empty body.  With a sink the deadline then bounds the time without
progress (a chunk from the backend, or the client reading); a drained one keeps its deadline.

Deadlines are checked by one sweep per pool every TIMEOUT_SWEEP_S, not by a timer per call:
a timer costs ~3.6 us to arm and cancel, several percent of a proxied request.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from typing import Protocol, cast

import httptools

from controller.router.wire import Headers

# done(status, reason, headers, body, error) where error is "", "connect", "timeout" or
# ROUTER_RESOURCES.
Done = Callable[[int, bytes, Headers, bytes, str], None]

# A connection to a backend the router could not even attempt: it is out of descriptors or
# sockets itself.  Not the backend's failure, so never counted as its "connect" error.
ROUTER_RESOURCES = "router_resources"
# The end of a complete response that was too large to buffer, streamed (or drained).
STREAMED = "streamed"
_OWN_EXHAUSTION = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                             errno.EADDRNOTAVAIL})

TIMEOUT_SWEEP_S = 0.1  # how late a timeout may fire


class Sink(Protocol):
    """Takes a response too large to buffer (the client's exchange)."""

    def stream_start(self, status: int, reason: bytes, headers: Headers, length: int,
                     source: UpstreamConnection) -> None:
        """The head (`length` -1: not framed by content-length), before any body byte;
        `source` pauses and resumes reading, or is told the client went away."""

    def stream_data(self, data: bytes) -> None: ...


class Call:
    __slots__ = ("conn", "connecting", "data", "deadline", "done", "finished", "head_only",
                 "inflight", "max_body", "retried", "sink", "timeout_s")

    def __init__(self, data: bytes, head_only: bool, done: Done, timeout_s: float,
                 deadline: float, inflight: set[Call], max_body: int,
                 sink: Sink | None) -> None:
        self.data = data
        self.head_only = head_only
        self.done = done
        self.timeout_s = timeout_s
        self.deadline = deadline
        self.inflight = inflight
        self.max_body = max_body
        self.sink = sink
        self.finished = False
        self.retried = False
        self.conn: UpstreamConnection | None = None
        self.connecting: asyncio.Task[object] | None = None
        inflight.add(self)

    def finish(self, status: int, reason: bytes, headers: Headers, body: bytes, error: str) -> None:
        if self.finished:
            return
        self.finished = True
        self.inflight.discard(self)
        self.done(status, reason, headers, body, error)

    def fail(self, error: str) -> None:
        self.finish(0, b"", [], b"", error)

    def on_timeout(self) -> None:
        if self.finished:
            return
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.call = None
            conn.abort()
        if self.connecting is not None:
            self.connecting.cancel()
        self.fail("timeout")


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, pool: BackendPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.call: Call | None = None
        self.reused = False
        self.got_bytes = False
        self.alive = True
        self.max_body = 0
        self.reading_paused = False
        self._reset()

    def _reset(self) -> None:
        self.reason = b""
        self.headers_done = False
        self.headers: Headers = []
        self.body: list[bytes] = []
        self.body_size = 0
        self.streaming = False

    def start(self, call: Call, reused: bool) -> None:
        self.call = call
        call.conn = self
        self.reused = reused
        self.got_bytes = False
        self.max_body = call.max_body
        self._reset()
        assert self.transport is not None
        self.transport.write(call.data)

    def abort(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but have the same API.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        call, self.call = self.call, None
        if call is None:
            self.pool.forget(self)
            return
        if self.headers_done and self._close_delimited():
            self.call = call  # the body ended with the connection: that is the response
            self._complete(reusable=False)
            return
        call.conn = None
        if self.reused and not self.got_bytes and not call.retried:
            call.retried = True
            self.pool.connect(call)
        else:
            call.fail("connect")

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._finish_failed()

    # -- httptools callbacks ---------------------------------------------------------------
    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def _close_delimited(self) -> bool:
        framed = (b"content-length", b"transfer-encoding")
        return not any(name in framed for name, _ in self.headers)

    def on_headers_complete(self) -> None:
        self.headers_done = True
        call = self.call
        if call is not None and call.head_only:
            # httptools cannot skip a HEAD response body; answer now and drop the connection.
            self._complete(reusable=False)

    def on_body(self, body: bytes) -> None:
        if self.streaming:
            self._stream(body)
            return
        self.body.append(body)
        self.body_size += len(body)
        if self.body_size > self.max_body:
            self._start_streaming()

    def on_message_complete(self) -> None:
        if self.call is not None:
            self._complete(self.parser.should_keep_alive())

    def _complete(self, reusable: bool) -> None:
        call, self.call = self.call, None
        if call is None:
            return
        call.conn = None
        if self.streaming:
            body, error = b"", STREAMED
            self.resume_reading()  # paused by the client's flow control: not for the next call
        else:
            body, error = self.body[0] if len(self.body) == 1 else b"".join(self.body), ""
        status = self.parser.get_status_code()
        if reusable and self.alive:
            self.pool.release(self)
        else:
            self.abort()
        call.finish(status, self.reason, self.headers, body, error)

    # -- streaming a response too large to buffer ------------------------------------------
    def _start_streaming(self) -> None:
        call = self.call
        if call is None:
            return
        self.streaming = True
        buffered, self.body = self.body, []
        sink = call.sink
        if sink is None:
            return  # drained: the bytes are dropped as they come
        call.deadline = self.pool.loop.time() + call.timeout_s
        sink.stream_start(self.parser.get_status_code(), self.reason, self.headers,
                          self._length(), self)
        for chunk in buffered:
            if self.call is not call:
                return  # the client went away while the head was written
            sink.stream_data(chunk)

    def _stream(self, body: bytes) -> None:
        call = self.call
        if call is not None and call.sink is not None:
            call.deadline = self.pool.loop.time() + call.timeout_s  # progress
            call.sink.stream_data(body)

    def _length(self) -> int:
        for name, value in self.headers:
            if name == b"content-length" and value.strip().isdigit():
                return int(value)
        return -1

    def pause_reading(self) -> None:
        """The client's transport is full: stop reading the backend."""
        if not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None:
            self.reading_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()
        call = self.call
        if call is not None and call.sink is not None:
            call.deadline = self.pool.loop.time() + call.timeout_s  # the client read: progress

    def client_gone(self) -> None:
        """The client of a streamed response closed: stop, and end the call as streamed."""
        call, self.call = self.call, None
        self.abort()
        if call is not None:
            call.conn = None
            call.finish(self.parser.get_status_code(), self.reason, self.headers, b"", STREAMED)

    def _finish_failed(self) -> None:
        call, self.call = self.call, None
        self.abort()
        if call is not None:
            call.conn = None
            call.fail("connect")


class BackendPool:
    def __init__(self, host: str, port: int, max_idle: int = 512) -> None:
        self.host = host
        self.port = port
        self.max_idle = max_idle
        self.idle: list[UpstreamConnection] = []
        self.inflight: set[Call] = set()
        self.closed = False
        self.loop = asyncio.get_running_loop()
        self.loop.call_later(TIMEOUT_SWEEP_S, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for call in [c for c in self.inflight if c.deadline <= now]:
            call.on_timeout()
        if not (self.closed and not self.inflight):  # a retired pool still times out its calls
            self.loop.call_later(TIMEOUT_SWEEP_S, self._sweep)

    def send(self, data: bytes, head_only: bool, timeout_s: float, done: Done, max_body: int,
             sink: Sink | None = None) -> None:
        call = Call(data, head_only, done, timeout_s, self.loop.time() + timeout_s,
                    self.inflight, max_body, sink)
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.alive and conn.transport is not None and not conn.transport.is_closing():
                conn.start(call, reused=True)
                return
        self.connect(call)

    def connect(self, call: Call) -> None:
        coro = self.loop.create_connection(lambda: UpstreamConnection(self), self.host, self.port)
        task: asyncio.Task[object] = self.loop.create_task(coro)
        call.connecting = task
        task.add_done_callback(lambda t: self._connected(call, t))

    def _connected(self, call: Call, task: asyncio.Task[object]) -> None:
        call.connecting = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            own = isinstance(exc, OSError) and exc.errno in _OWN_EXHAUSTION
            call.fail(ROUTER_RESOURCES if own else "connect")
            return
        result = task.result()
        assert isinstance(result, tuple)
        conn = result[1]
        assert isinstance(conn, UpstreamConnection)
        if call.finished:
            self.release(conn)  # timed out while connecting: keep the connection for later
        else:
            conn.start(call, reused=False)

    def release(self, conn: UpstreamConnection) -> None:
        if len(self.idle) < self.max_idle:
            self.idle.append(conn)
        else:
            conn.abort()

    def forget(self, conn: UpstreamConnection) -> None:
        if conn in self.idle:
            self.idle.remove(conn)

    def close(self) -> None:
        self.closed = True
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.abort()


class PoolSet:
    """One pool per backend address, shared across table versions."""

    def __init__(self, max_idle: int = 512) -> None:
        self.max_idle = max_idle
        self.pools: dict[tuple[str, int], BackendPool] = {}

    def get(self, host: str, port: int) -> BackendPool:
        pool = self.pools.get((host, port))
        if pool is None:
            pool = self.pools[(host, port)] = BackendPool(host, port, self.max_idle)
        return pool

    def retain(self, keep: set[tuple[str, int]]) -> None:
        for key in list(self.pools):
            if key not in keep:
                self.pools.pop(key).close()

    def close(self) -> None:
        self.retain(set())
