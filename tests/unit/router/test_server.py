"""The HTTP/1.1 server protocol against a fake transport: limits, pipelining, fuzz (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.router.limits import Limits
from controller.router.server import HttpConnection
from controller.router.wire import Request, request_head, response_bytes
from tests.unit.router.fake_connection import (
    EchoApp,
    FakeTransport,
    connect,
    feed_endless_value,
    statuses,
)

pytestmark = pytest.mark.unit
def test_pipelined_requests_answer_in_order() -> None:
    conn, transport, app = connect()
    conn.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 3\r\n\r\nabc")
    assert [r.url for r in app.seen] == [b"/a", b"/b"]
    assert app.seen[1].body == b"abc"
    assert statuses(transport) == [200, 200]
    assert not transport.closing


def test_chunked_body_is_reassembled() -> None:
    conn, _, app = connect()
    conn.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert app.seen[0].body == b"abcde"


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"GARBAGE\r\n\r\n", 400, "malformed"),
        (b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n", 413, "body"),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"h%d: v\r\n" % i for i in range(20)) + b"\r\n",
         431, "headers"),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", 431, "headers"),
        (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 501,
         "upgrade"),
    ],
)
def test_bad_input_gets_an_error_and_close(data: bytes, status: int, reason: str) -> None:
    conn, transport, app = connect(Limits(max_body_bytes=1000, max_headers=10,
                                          max_header_bytes=2048))
    conn.data_received(data)
    assert statuses(transport) == [status]
    assert b"connection: close" in transport.out
    assert transport.closing
    assert app.rejections == [reason]
    conn.data_received(b"GET / HTTP/1.1\r\n\r\n")  # ignored after the error
    assert statuses(transport) == [status]


def test_an_unterminated_header_is_refused_by_bytes_received() -> None:
    """httptools holds an unfinished header line itself: the limit counts received bytes."""
    conn, transport, app = connect(Limits(max_header_bytes=2048))
    feed_endless_value(conn, transport, b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
    assert statuses(transport) == [431]
    assert app.rejections == ["headers"]
    assert conn.raw_head_bytes <= 2048


def test_a_large_read_with_head_and_body_is_not_a_large_head() -> None:
    conn, transport, app = connect(Limits(max_header_bytes=1024, max_body_bytes=1 << 20))
    body = b"b" * (256 << 10)
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    conn.data_received(request + body + request + body[:100])  # one read, two requests
    conn.data_received(body[100:])
    assert statuses(transport) == [200, 200]
    assert [len(r.body) for r in app.seen] == [len(body), len(body)]


def test_a_head_split_over_many_reads_within_the_limit_is_served() -> None:
    conn, transport, app = connect(Limits(max_header_bytes=1024))
    data = b"GET /x HTTP/1.1\r\nHost: x\r\nX-Long: " + b"v" * 900 + b"\r\n\r\n"
    for i in range(0, len(data), 7):
        conn.data_received(data[i:i + 7])
    assert statuses(transport) == [200]
    assert app.seen[0].header(b"x-long") == b"v" * 900


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\n",  # no Host
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n",  # more than one
    b"GET / HTTP/1.1\r\nHost: a b\r\n",
    b"GET / HTTP/1.1\r\nHost: user@a\r\n",
    b"GET / HTTP/1.1\r\nHost: a:b\r\n",
    b"GET / HTTP/1.1\r\nHost: a:80:80\r\n",
    b"GET / HTTP/1.1\r\nHost: [::1\r\n",
    b"GET / HTTP/1.1\r\nHost: a/b\r\n",
    b"GET / HTTP/1.1\r\nHost: a%zz\r\n",
])
def test_host_is_required_once_and_valid(head: bytes) -> None:
    conn, transport, app = connect()
    conn.data_received(head + b"\r\n")
    assert statuses(transport) == [400]
    assert transport.closing
    assert app.rejections == ["host"]


@pytest.mark.parametrize("host", [b"a.example", b"a.example:8080", b"127.0.0.1:80", b"[::1]",
                                  b"[::1]:8080", b"", b"xn--bcher-kva.example", b"a%41b"])
def test_valid_hosts_are_served(host: bytes) -> None:
    conn, transport, app = connect()
    conn.data_received(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert statuses(transport) == [200]
    assert app.seen[0].header(b"host") == host


def test_http10_without_host_is_served_and_forwarded_with_an_empty_host() -> None:
    conn, transport, app = connect()
    conn.data_received(b"GET / HTTP/1.0\r\n\r\n")
    assert statuses(transport) == [200]
    assert b"host: \r\n" in request_head(app.seen[0], None)


def test_http10_closes_after_answer() -> None:
    conn, transport, _ = connect()
    conn.data_received(b"GET / HTTP/1.0\r\n\r\n")
    assert statuses(transport) == [200]
    assert transport.closing


def test_read_and_idle_timeouts() -> None:
    conn, transport, _ = connect(Limits(read_timeout_s=1.0, idle_timeout_s=5.0))
    conn.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
    assert conn.message_started is not None
    conn.sweep(conn.message_started + 2.0)
    assert statuses(transport) == [408]
    assert transport.closing
    conn, transport, _ = connect(Limits(idle_timeout_s=5.0))
    conn.sweep(conn.last_activity + 6.0)
    assert transport.closing
    assert not transport.out


def test_header_deadline_counts_from_the_first_byte_even_crlf() -> None:
    conn, transport, app = connect(Limits(header_timeout_s=10.0, read_timeout_s=30.0,
                                          idle_timeout_s=75.0))
    conn.data_received(b"\r\n")
    started = conn.last_activity
    conn.data_received(b"\r\n")  # more bytes do not move the deadline
    conn.sweep(started + 9.0)
    assert not transport.closing
    conn.sweep(started + 11.0)
    assert statuses(transport) == [408]
    assert transport.closing
    assert app.rejections == ["header_timeout"]


def test_header_deadline_restarts_with_each_message_and_spares_idle_connections() -> None:
    conn, transport, _ = connect(Limits(header_timeout_s=10.0, idle_timeout_s=75.0))
    conn.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    answered = conn.last_activity
    conn.sweep(answered + 30.0)  # idle keep-alive, no byte of a next request yet
    assert not transport.closing
    conn.data_received(b"GET / HTTP/1.1\r\n")
    conn.sweep(conn.last_activity + 11.0)
    assert statuses(transport) == [200, 408]


def test_connections_over_the_limit_are_shed_and_linger_until_the_client_closes() -> None:
    app = EchoApp()
    served: set[HttpConnection] = set()
    lingering: set[HttpConnection] = set()
    limits = Limits(max_connections=2)
    transports = [FakeTransport() for _ in range(3)]
    conns = [HttpConnection(app, limits, served, lingering) for _ in range(3)]
    for conn, transport in zip(conns, transports, strict=True):
        conn.connection_made(transport)  # type: ignore[arg-type]
    shed, transport = conns[2], transports[2]
    assert served == set(conns[:2])
    assert lingering == {shed}
    assert statuses(transport) == [503]
    assert b"retry-after: 1\r\n" in transport.out
    assert transport.eof
    assert not transport.closing
    assert app.rejections == ["overload"]
    shed.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # read and ignored
    assert statuses(transport) == [503]
    assert not app.seen
    shed.sweep(shed.last_activity + 2.0)  # the client never closed: give up on it
    assert transport.closing
    shed.connection_lost(None)
    assert not lingering
    conns[0].connection_lost(None)  # capacity comes back
    again = HttpConnection(app, limits, served, lingering)
    again.connection_made(FakeTransport())
    assert again in served


def test_request_head_drops_hop_by_hop_and_overrides_host() -> None:
    req = Request(b"POST", b"/v2/models/m/infer", [
        (b"host", b"router"), (b"connection", b"keep-alive"), (b"transfer-encoding", b"chunked"),
        (b"x-user-id", b"u1"), (b"content-length", b"5")], b"hello", True)
    head = request_head(req, b"model.ns.svc")
    assert head.startswith(b"POST /v2/models/m/infer HTTP/1.1\r\n")
    assert b"x-user-id: u1\r\n" in head
    assert b"host: model.ns.svc\r\n" in head
    assert b"router" not in head
    assert b"chunked" not in head
    assert b"keep-alive" not in head
    assert head.count(b"content-length") == 1
    assert b"content-length: 5\r\n" in head


def test_request_head_drops_internal_and_connection_named_headers() -> None:
    conn, _, app = connect()
    conn.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Hop, Host\r\n"
                       b"X-Hop: 1\r\nX-Model-Variant: evil\r\nx-prediction-id: evil\r\n"
                       b"X-Modelrouter-Shadow: evil\r\nX-Modeled: evil\r\nX-Keep: 1\r\n\r\n")
    (req,) = app.seen
    assert req.hop == frozenset({b"x-hop"})  # host is never dropped this way
    head = request_head(req, None)
    assert b"evil" not in head
    assert b"x-hop" not in head
    assert b"x-keep: 1\r\n" in head
    assert b"host: x\r\n" in head


def test_response_bytes_replaces_framing_headers() -> None:
    out = response_bytes(200, b"OK", [(b"transfer-encoding", b"chunked"), (b"x-a", b"1"),
                                      (b"x-model-variant", b"spoofed")], b"body",
                         b"x-model-variant: stable\r\n", keep_alive=False)
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"chunked" not in out
    assert b"spoofed" not in out
    assert b"content-length: 4\r\n" in out
    assert b"connection: close\r\n" in out


header_name = st.text(alphabet="abcxyz-_:\r\n \x00", min_size=0, max_size=12)
request_like = st.builds(
    lambda method, path, headers, body, tail: (
        method + b" " + path + b" HTTP/1.1\r\n"
        + b"".join(n.encode() + b": " + v + b"\r\n" for n, v in headers)
        + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body + tail
    ),
    st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"BREW", b""]),
    st.binary(max_size=30),
    st.lists(st.tuples(header_name, st.binary(max_size=20)), max_size=8),
    st.binary(max_size=64),
    st.binary(max_size=16),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(request_like, st.binary(max_size=200)), st.lists(st.integers(1, 50),
                                                                  max_size=6))
def test_fuzz_never_raises_and_answers_well_formed(data: bytes, cuts: list[int]) -> None:
    conn, transport, _ = connect(Limits(max_body_bytes=48, max_headers=6, max_header_bytes=256))
    position = 0
    for cut in [*cuts, len(data)]:
        conn.data_received(data[position:position + cut])
        position += cut
        if position >= len(data):
            break
    conn.data_received(data[position:])
    out = bytes(transport.out)
    codes: list[Any] = statuses(transport)
    assert out.count(b"HTTP/1.1 ") == len(codes)
    assert all(200 <= c < 600 for c in codes)
    if transport.closing and codes and codes[-1] >= 400:
        assert out.rstrip().endswith(b"}")  # JSON error body
