"""What reaches a backend: hop-by-hop and the router's own headers are never the client's."""

from __future__ import annotations

import socket

import pytest

from tests.integration.router.backends import label_backend
from tests.integration.router.harness import Harness, table, wait_for

pytestmark = pytest.mark.integration

SPOOFED = [
    ("X-Model-Variant", "spoofed"), ("X-Prediction-Id", "spoofed"),
    ("X-Modelrouter-Shadow", "spoofed"), ("X-Model-Version", "spoofed"),
    ("X-Prediction-Label", "spoofed"), ("X-Modelrouter-Anything", "spoofed"),
    ("Connection", "keep-alive, X-Named-Hop"), ("X-Named-Hop", "spoofed"),
    ("Keep-Alive", "spoofed"), ("Proxy-Connection", "spoofed"), ("TE", "spoofed"),
    ("Trailer", "spoofed"), ("Upgrade", "spoofed"), ("Proxy-Authorization", "spoofed"),
    ("Proxy-Authenticate", "spoofed"),
]


def test_spoofed_internal_and_hop_by_hop_headers_never_reach_a_backend(harness: Harness
                                                                        ) -> None:
    primary = harness.backend(label_backend("cat"))
    copy = harness.backend(label_backend("cat"))
    harness.put_table(table(1, primary.address, shadows=[
        {"name": "shadow-a", "backends": [copy.address], "mirrorBp": 10_000}]))
    head = "".join(f"{name}: {value}\r\n" for name, value in SPOOFED)
    with socket.create_connection(("127.0.0.1", harness.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nX-User-Id: u1\r\n"
                     + head.encode() + b"Content-Length: 2\r\n\r\n{}")
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200 ")
    wait_for(lambda: len(copy.heads) == 1, what="the shadow copy")
    for backend, variant in ((primary, "stable"), (copy, "shadow-a")):
        (received,) = backend.heads
        assert b"spoofed" not in received, received
        headers = backend.requests[0][2]
        assert headers["x-model-variant"] == variant
        assert headers["x-prediction-id"] != "spoofed"
        assert headers["x-user-id"] == "u1"  # end-to-end headers pass
        assert headers["host"] == "x"
    assert copy.requests[0][2]["x-modelrouter-shadow"] == "1"
    assert "x-modelrouter-shadow" not in primary.requests[0][2]
