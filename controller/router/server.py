"""A minimal HTTP/1.1 server protocol on httptools with hard limits.

One request per connection is handled at a time (pipelined requests queue in order); the
application answers by calling `respond`, now or later.  Malformed or oversized input gets a
JSON error and the connection is closed — never an exception out of the event loop.

The header-section limit is enforced on the bytes received, before httptools sees them:
httptools buffers a header line until it ends, so a limit applied to complete headers only
would let one unterminated header value grow without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Protocol, cast

import httptools

from controller.router.chunked import ChunkFraming
from controller.router.head import scan_head
from controller.router.limits import OVERLOADED, Limits, RequestRejectedError
from controller.router.wire import NO_HOP, Request, json_response, named_hop_headers

_MAX_QUEUED = 16  # pipelined requests buffered before we stop reading
SHED_LINGER_S = 1.0  # a shed connection waits this long for the client to close first


class Flow(Protocol):
    """Where a streamed response comes from (a backend connection): the client's write
    buffer paces it, and it stops when the client goes away."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def client_gone(self) -> None: ...


class App(Protocol):
    def handle(self, conn: HttpConnection, req: Request) -> None: ...

    def rejected(self, reason: str) -> None: ...


class HttpConnection(asyncio.Protocol):
    """`registry` holds the served connections of one listening port (at most
    `limits.max_connections`); a connection over it is shed: answered 503 at once, then kept
    in `lingering` until the client closes or SHED_LINGER_S passes, so the answer is not lost
    to a reset."""

    def __init__(self, app: App, limits: Limits, registry: set[HttpConnection],
                 lingering: set[HttpConnection] | None = None) -> None:
        self.app = app
        self.limits = limits
        self.registry = registry
        self.lingering = lingering
        self.shed = False
        self.flow: Flow | None = None  # the source of the response being streamed, if any
        self.write_paused = False
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[Request] = deque()
        self.busy = False
        self.paused = False
        self.closed = False
        self.close_after = False
        self.last_activity = time.monotonic()
        self.message_started: float | None = None
        # Reading a header section (a request head or the CRLFs before one, or the trailers
        # of a chunked body): `raw_head_bytes` of it received so far; `sections` counts the
        # heads and messages finished.
        self.head_open = True
        self.raw_head_bytes = 0
        self.sections = 0
        # When the first byte of the open head arrived (CRLFs before a request line count).
        self.head_started: float | None = None
        self.chunks: ChunkFraming | None = None  # the current message's chunked body, if any
        self.valid_host: bytes | None = None  # the last Host value found valid
        self._reset_message()

    def _reset_message(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0
        self.headers_done = False
        self.hop = NO_HOP
        self.body: list[bytes] = []
        self.body_size = 0
        self.chunks = None

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but have the same API.
        self.transport = cast(asyncio.Transport, transport)
        if len(self.registry) >= self.limits.max_connections:
            self._shed(self.transport)
            return
        self.registry.add(self)

    def _shed(self, transport: asyncio.Transport) -> None:
        self.shed = True
        self.close_after = True  # read nothing
        self.app.rejected("overload")
        transport.write(OVERLOADED)
        if self.lingering is None or not transport.can_write_eof():
            transport.close()
            self.closed = True
            return
        # Half-close and let the client close first: closing with its request unread would
        # reset the connection, and a reset can discard the 503 before the client reads it.
        transport.write_eof()
        self.lingering.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.registry.discard(self)
        if self.lingering is not None:
            self.lingering.discard(self)
        flow, self.flow = self.flow, None
        if flow is not None:
            flow.client_gone()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.flow is not None:
            self.flow.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.flow is not None:
            self.flow.resume_reading()

    def eof_received(self) -> bool:
        """Client half-closed: answer what it already sent, then close."""
        self.close_after = True
        return self.busy or bool(self.queue)

    def data_received(self, data: bytes) -> None:
        if self.closed or self.close_after:
            return
        now = self.last_activity = time.monotonic()
        if self.head_open:
            if self.head_started is None:
                self.head_started = now
            room = self.limits.max_header_bytes - self.raw_head_bytes
            if len(data) > room:
                self._feed_head(data)
                return
            self.raw_head_bytes += len(data)
        self._feed(data)

    def _feed_head(self, data: bytes) -> None:
        """Feed a read that may hold more than the open header section may still take.

        While a section is open the parser gets at most the bytes left under the limit; if the
        section is still open after them, it is too large.  When a section ends inside a piece,
        the rest of the piece (body, or a pipelined request) is fed on; bytes of a pipelined
        head inside that rest are not counted here (they still count, exactly, as headers
        complete), so a head can buffer at most the limit plus one read before its 431.
        """
        view = memoryview(data)
        limit = self.limits.max_header_bytes
        position, end = 0, len(data)
        while position < end:
            if not self.head_open:
                self._feed(view[position:])
                return
            room = limit - self.raw_head_bytes
            if room <= 0:
                self.fail(RequestRejectedError(431, "headers", "request headers too large"))
                return
            piece = view[position:position + room]
            sections = self.sections
            self.raw_head_bytes += len(piece)
            if not self._feed(piece):
                return
            position += len(piece)
            if self.head_open and self.sections == sections and self.raw_head_bytes >= limit:
                self.fail(RequestRejectedError(431, "headers", "request headers too large"))
                return

    def _feed(self, data: bytes | memoryview) -> bool:
        """Parse received bytes; False once the connection stopped reading (an error)."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(RequestRejectedError(501, "upgrade", "protocol upgrade is not supported"))
            return False
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, RequestRejectedError):
                self.fail(cause)
            else:
                self.fail(RequestRejectedError(500, "internal", "internal error reading request"))
            return False
        except httptools.HttpParserError:
            self.fail(RequestRejectedError(400, "malformed", "malformed HTTP request"))
            return False
        chunks = self.chunks
        if chunks is not None and chunks.pending():
            chunks.after_read(data if isinstance(data, bytes) else bytes(data), self.body_size,
                              self.limits.max_body_bytes, self)
        return not (self.closed or self.close_after)

    # -- ChunkedBodyOwner --------------------------------------------------------------------
    def trailers_began(self, received: int) -> None:
        """The trailer section of a chunked body began: count it like a head.  `received`:
        its bytes in the current read, when known (else at most one read goes uncounted)."""
        self.head_open = True
        self.raw_head_bytes = received
        if received > self.limits.max_header_bytes:
            self.fail(RequestRejectedError(431, "headers", "request trailers too large"))

    def body_too_large(self) -> None:
        self.fail(RequestRejectedError(413, "body", "request body too large"))

    # -- httptools callbacks ---------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        # The first callback of a message (state was reset when the previous one completed).
        if self.message_started is None:
            self.message_started = self.last_activity
        self.url += url
        self._count_header_bytes(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        if self.headers_done:
            # A trailer field of a chunked body: counted, never merged into the header
            # section that is forwarded (RFC 9110 section 6.5.1), so dropped.
            return
        self.headers.append((name.lower(), value))
        if len(self.headers) > self.limits.max_headers:
            raise RequestRejectedError(431, "headers", "too many request headers")

    def on_headers_complete(self) -> None:
        self.head_open = False
        self.head_started = None
        self.headers_done = True
        self.sections += 1
        if self.parser.should_upgrade():
            raise RequestRejectedError(501, "upgrade", "protocol upgrade is not supported")
        facts = scan_head(self.headers, self.limits.max_body_bytes, self.valid_host)
        if facts.chunked:
            self.chunks = ChunkFraming()
        if facts.host is not None:
            self.valid_host = facts.host
        else:
            # RFC 9112 section 3.2: HTTP/1.1 requires Host.  HTTP/1.0 predates it and is
            # accepted without (simple probes and tools still send it so); the request goes
            # on as HTTP/1.1, so it gets the empty Host that a target without authority has.
            if self.parser.get_http_version() != "1.0":
                raise RequestRejectedError(400, "host", "missing Host header")
            self.headers.append((b"host", b""))
        if facts.connection is not None:
            self.hop = named_hop_headers(facts.connection)
        if facts.expect is not None:
            self._expect(facts.expect)

    def _expect(self, expect: bytes) -> None:
        """Answer an expectation, only once every other check of the head has passed."""
        if expect.strip().lower() != b"100-continue":
            raise RequestRejectedError(417, "expectation", "only 100-continue is supported")
        # The router reads the whole body before forwarding, so it accepts it itself; never
        # to HTTP/1.0 (RFC 9110 10.1.1), never in the middle of an answer still owed for an
        # earlier request (the client then sends its body after its own wait).
        transport = self.transport
        if transport is not None and not (self.busy or self.queue) and (
            self.parser.get_http_version() != "1.0"
        ):
            transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_chunk_header(self) -> None:
        if self.chunks is not None:  # set: httptools reports chunks of a chunked body only
            self.chunks.chunk_started(self.body_size)

    def on_chunk_complete(self) -> None:
        if self.chunks is not None:
            self.chunks.chunk_ended()

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > self.limits.max_body_bytes:
            raise RequestRejectedError(413, "body", "request body too large")
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        req = Request(
            self.parser.get_method(), self.url, self.headers, body,
            self.parser.should_keep_alive(), self.hop,
        )
        self.message_started = None
        self._reset_message()
        self.head_open = True  # the next message's head, or CRLFs before it
        self.raw_head_bytes = 0
        self.head_started = None  # its clock starts with its first read
        self.sections += 1
        self.queue.append(req)
        if not self.busy:
            self._next()
        elif len(self.queue) >= _MAX_QUEUED and self.transport and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def _count_header_bytes(self, n: int) -> None:
        self.header_bytes += n
        if self.header_bytes > self.limits.max_header_bytes:
            raise RequestRejectedError(431, "headers", "request headers too large")

    # -- answering -------------------------------------------------------------------------
    def _next(self) -> None:
        req = self.queue.popleft()
        if self.paused and self.transport and len(self.queue) < _MAX_QUEUED // 2:
            self.paused = False
            self.transport.resume_reading()
        self.busy = True
        try:
            self.app.handle(self, req)
        except Exception:  # a bug in a handler must not kill the connection silently
            self.app.rejected("internal")
            self.respond(json_response(500, {"error": "internal router error"}, False), False)

    def respond(self, data: bytes, keep_alive: bool) -> None:
        """Send a complete response; then serve the next queued request or close."""
        transport = self.transport
        self.busy = False
        if transport is None or self.closed:
            return
        transport.write(data)
        keep_alive = keep_alive and not (self.close_after and not self.queue)
        if not keep_alive:
            self.queue.clear()
            transport.close()
            self.closed = True
        elif self.queue:
            self._next()

    def stream_from(self, flow: Flow, high_water: int) -> None:
        """The answer being written is streamed from `flow`: pause it while more than
        `high_water` bytes wait in the transport (until a quarter of it is left)."""
        self.flow = flow
        if self.transport is not None:
            self.transport.set_write_buffer_limits(high=high_water)
        if self.write_paused:
            flow.pause_reading()

    def stream_ended(self) -> None:
        self.flow = None

    def abort(self) -> None:
        """Drop the connection at once (a streamed answer that cannot be completed)."""
        self.flow = None
        self.queue.clear()
        if self.transport is not None and not self.closed:
            self.transport.abort()
        self.closed = True

    def fail(self, reject: RequestRejectedError) -> None:
        self.app.rejected(reject.reason)
        self.queue.clear()
        payload = {"error": str(reject)}
        if self.busy:
            # A response is still owed for an earlier request: stop reading, close after it.
            self.close_after = True
            if self.transport:
                self.transport.pause_reading()
            return
        if self.transport is not None and not self.closed:
            self.transport.write(json_response(reject.status, payload, keep_alive=False))
            self.transport.close()
        self.closed = True

    def sweep(self, now: float) -> None:
        """Called about once a second: enforce the header, read and idle timeouts."""
        if self.shed:
            if not self.closed and self.transport and now - self.last_activity > SHED_LINGER_S:
                self.transport.abort()
                self.closed = True
            return
        if self.closed or self.busy or self.transport is None:
            return
        started = self.head_started
        if started is not None and now - started > self.limits.header_timeout_s:
            self.fail(RequestRejectedError(408, "header_timeout",
                                           "request head not received in time"))
        elif self.message_started is not None:
            if now - self.message_started > self.limits.read_timeout_s:
                self.fail(RequestRejectedError(408, "read_timeout", "request not received in time"))
        elif now - self.last_activity > self.limits.idle_timeout_s:
            self.transport.close()
            self.closed = True
