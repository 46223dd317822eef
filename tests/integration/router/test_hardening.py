"""Malformed input, limits, dead or slow backends: clean JSON answers, never a crash."""

from __future__ import annotations

import json
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.router.limits import Limits
from controller.router.proxy import ProxySettings
from tests.integration.router.backends import label_backend
from tests.integration.router.harness import Harness, table

pytestmark = pytest.mark.integration


def raw(port: int, data: bytes) -> bytes:
    """Send raw bytes, half-close, read whatever comes back until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def limited() -> object:
    h = Harness(limits=Limits(max_body_bytes=1024, max_headers=20, max_header_bytes=4096),
                proxy=ProxySettings(backend_timeout_s=0.3))
    a = h.backend(label_backend("cat"))
    h.put_table(table(1, a.address))
    yield h
    h.close()


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000, 413),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n"
         + b"x" * 2048 + b"\r\n0\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"h%d: v\r\n" % i for i in range(40)) + b"\r\n",
         431),
        (b"GET / HTTP/1.1\r\nBig: " + b"v" * 8000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ],
)
def test_bad_requests_get_clean_json_errors(limited: Harness, data: bytes, status: int) -> None:
    reply = raw(limited.service.port, data)
    assert reply.startswith(b"HTTP/1.1 %d " % status)
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]
    assert limited.request()[0] == 200  # and the router keeps serving


def test_backend_down_gives_502_naming_the_variant(harness: Harness) -> None:
    dead = harness.backend(label_backend("cat"))
    address = dead.address
    harness.lt.run(dead.stop())
    harness.put_table(table(1, address))
    status, headers, body = harness.request()
    assert status == 502
    assert json.loads(body)["variant"] == "stable"
    assert headers["x-model-variant"] == "stable"
    assert harness.metric("modelrouter_errors_total", variant="stable", reason="connect") == 1


def test_slow_backend_gives_504(limited: Harness) -> None:
    slow = limited.backend(label_backend("cat"), delay_s=30.0)
    limited.put_table(table(2, slow.address))
    status, _, body = limited.request()
    assert status == 504
    assert json.loads(body)["variant"] == "stable"
    assert limited.metric("modelrouter_errors_total", reason="timeout") == 1


def test_pipelining_http10_and_methods(harness: Harness) -> None:
    a = harness.backend(label_backend("cat"))
    harness.put_table(table(1, a.address))
    reply = raw(harness.service.port,
                b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
                b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
                b"HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /last HTTP/1.0\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200 ") == 4
    assert reply.index(b"/v2/health/live") < reply.index(b"/v2/models/m/infer")
    assert [r[:2] for r in a.requests] == [("GET", "/v2/health/live"),
                                           ("POST", "/v2/models/m/infer"), ("HEAD", "/x"),
                                           ("GET", "/last")]


junk = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda m, p, h, b: m + b" " + p + b" HTTP/1.1\r\n" + h + b"\r\n\r\n" + b,
              st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"X"]),
              st.binary(min_size=1, max_size=40), st.binary(max_size=200),
              st.binary(max_size=100)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(junk)
def test_fuzzed_requests_never_break_the_router(limited: Harness, data: bytes) -> None:
    reply = raw(limited.service.port, data)
    if reply:
        assert reply.startswith(b"HTTP/1.1 ")
    assert limited.request()[0] == 200
