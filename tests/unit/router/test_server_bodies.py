"""The HTTP/1.1 server protocol's request bodies against a fake transport: chunked framing
checked against the limits as it arrives, trailers, and Expect: 100-continue (pure)."""

from __future__ import annotations

import pytest

from controller.router.limits import Limits
from tests.unit.router.fake_connection import connect, feed_endless_value, statuses

pytestmark = pytest.mark.unit


CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("reads", [
    [CHUNKED_HEAD + b"100000\r\n" + b"x" * 10],  # declared 1 MiB, 10 bytes sent
    [CHUNKED_HEAD, b"100000\r\n", b"x" * 10],
    [CHUNKED_HEAD + b"10", b"0000;ext=1\r\nxx"],  # the size line split over reads
    [CHUNKED_HEAD + b"1", b"0", b"0", b"0", b"0", b"0\r\n"],
    [CHUNKED_HEAD + b"200\r\n" + b"y" * 512 + b"\r\n300\r\nzz"],  # 512 + 768 > 1024
])
def test_a_chunk_declared_over_the_body_limit_is_refused_at_its_size_line(reads: list[bytes]
                                                                          ) -> None:
    conn, transport, app = connect(Limits(max_body_bytes=1024))
    for data in reads:
        conn.data_received(data)
    assert statuses(transport) == [413]
    assert app.rejections == ["body"]


def test_chunked_bodies_within_the_limit_are_served_however_they_are_split() -> None:
    body = b"".join(b"%x;name=value\r\n%s\r\n" % (n, b"k" * n) for n in (1, 100, 255, 16))
    data = CHUNKED_HEAD + body + b"0\r\nX-Trailer: t\r\n\r\n"
    for step in (1, 3, 7, 64, len(data)):
        conn, transport, app = connect(Limits(max_body_bytes=372))
        for i in range(0, len(data), step):
            conn.data_received(data[i:i + step])
        assert statuses(transport) == [200], step
        assert app.seen[0].body == b"k" * 372
        assert app.seen[0].header(b"x-trailer") is None  # trailers are not headers


def test_an_unterminated_trailer_is_refused_by_bytes_received() -> None:
    conn, transport, app = connect(Limits(max_header_bytes=2048))
    feed_endless_value(conn, transport, CHUNKED_HEAD + b"3\r\nabc\r\n0\r\nX-Endless: ")
    assert statuses(transport) == [431]
    assert app.rejections == ["headers"]


@pytest.mark.parametrize("first", [
    b"0\r\nX-A: 1\r\n",  # the read ends with the last chunk and a complete trailer line
    b"0\r\nX-A",  # ... with the last chunk and the start of a trailer line
])
def test_an_endless_trailer_is_refused_however_the_trailer_section_begins(first: bytes
                                                                        ) -> None:
    """Complete trailer lines are counted as headers when parsed; a value that never ends is
    counted by bytes received, from the read in which the trailer section began."""
    conn, transport, app = connect(Limits(max_header_bytes=2048))
    conn.data_received(CHUNKED_HEAD + b"3\r\nabc\r\n")
    conn.data_received(first)  # a read of its own: the section began in it
    feed_endless_value(conn, transport, b"X-Endless: " if first.endswith(b"\n") else b": ")
    assert statuses(transport) == [431]
    assert app.rejections == ["headers"]


def test_expect_continue_is_acknowledged() -> None:
    conn, transport, app = connect()
    conn.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                       b"Content-Length: 2\r\n\r\n")
    assert transport.out.startswith(b"HTTP/1.1 100 Continue")
    conn.data_received(b"hi")
    assert app.seen[0].body == b"hi"


def test_expect_continue_over_the_body_limit_gets_413_and_no_100() -> None:
    conn, transport, app = connect(Limits(max_body_bytes=1000))
    # Expect before Content-Length: every check runs before the 100 is written
    conn.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                       b"Content-Length: 5000\r\n\r\n")
    assert transport.out.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in transport.out
    assert app.rejections == ["body"]


def test_an_unknown_expectation_gets_417() -> None:
    conn, transport, app = connect()
    conn.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n"
                       b"Content-Length: 2\r\n\r\nhi")
    assert statuses(transport) == [417]
    assert app.rejections == ["expectation"]


def test_no_100_for_http10_nor_in_the_middle_of_another_answer() -> None:
    conn, transport, _ = connect()
    conn.data_received(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert not transport.out
    conn, transport, app = connect()
    app.handle = lambda conn, req: None  # type: ignore[method-assign]  # answers later
    conn.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"POST /b HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n"
                       b"Content-Length: 2\r\n\r\n")
    assert not transport.out  # a 100 now would land before the answer to /a
