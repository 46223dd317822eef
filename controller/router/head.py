"""What a request head's fields say, checked once the header section is complete."""

from __future__ import annotations

from dataclasses import dataclass

from controller.router.limits import RequestRejectedError
from controller.router.wire import valid_host


@dataclass(slots=True)
class HeadFacts:
    connection: bytes | None  # the Connection values, joined with ","
    expect: bytes | None
    chunked: bool  # Transfer-Encoding given: httptools refuses one that does not end chunked
    host: bytes | None  # the one Host value (checked), None without one


def scan_head(headers: list[tuple[bytes, bytes]], max_body_bytes: int,
              known_host: bytes | None) -> HeadFacts:
    """The facts of a head, or RequestRejectedError for a declared body over the limit, more
    than one Host or an invalid one.  `known_host` is already valid: a keep-alive client
    repeats its Host, so it is not parsed again."""
    facts = HeadFacts(None, None, False, None)
    for name, value in headers:
        if name == b"content-length" and value.strip().isdigit():
            if int(value) > max_body_bytes:
                raise RequestRejectedError(413, "body", "request body too large")
        elif name == b"host":
            if facts.host is not None:
                raise RequestRejectedError(400, "host", "more than one Host header")
            if value != known_host and not valid_host(value):
                raise RequestRejectedError(400, "host", "invalid Host header")
            facts.host = value
        elif name == b"expect":
            facts.expect = value
        elif name == b"connection":
            facts.connection = value if facts.connection is None else (
                facts.connection + b"," + value)
        elif name == b"transfer-encoding":
            facts.chunked = True
    return facts
