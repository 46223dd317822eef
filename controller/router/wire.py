"""HTTP/1.1 message building (pure byte work, shared by the proxy and the admin server)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

Headers = list[tuple[bytes, bytes]]

# Hop-by-hop headers plus the ones the router rewrites itself.  Headers named in the
# client's Connection header are hop-by-hop too (Request.hop).
REQUEST_DROP = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te",
        b"upgrade", b"expect", b"content-length", b"trailer", b"proxy-authorization",
        b"proxy-authenticate",
    }
)
# The router's own request headers (x-model-variant, x-prediction-id, x-modelrouter-shadow)
# and everything else under the prefixes x-model and x-prediction (request_head): a client
# never sets them for a backend.
RESPONSE_DROP = frozenset(
    {
        b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"trailer",
        b"upgrade", b"proxy-connection", b"proxy-authenticate",
        b"x-prediction-id", b"x-model-variant",
    }
)
NO_HOP: frozenset[bytes] = frozenset()
BODYLESS_METHODS = frozenset({b"GET", b"HEAD", b"DELETE", b"OPTIONS", b"TRACE"})


# Never dropped because a Connection header names them: the router needs them itself.
_KEEP = frozenset({b"host", b"content-length", b"transfer-encoding", b"close", b"keep-alive",
                   b""})


def named_hop_headers(connection: bytes) -> frozenset[bytes]:
    """Header names listed in Connection: hop-by-hop, not forwarded (RFC 9110 7.6.1)."""
    names = frozenset(token.strip().lower() for token in connection.split(b",")) - _KEEP
    return names or NO_HOP


@dataclass(slots=True)
class Request:
    method: bytes
    url: bytes
    headers: Headers
    body: bytes
    keep_alive: bool
    hop: frozenset[bytes] = NO_HOP  # header names the Connection header lists

    @property
    def path(self) -> bytes:
        return self.url.split(b"?", 1)[0]

    def header(self, name: bytes) -> bytes | None:
        """First value of a lower-case header name."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


# RFC 3986 host syntax: reg-name (which covers IPv4address) and IP-literal characters.
_UNRESERVED_SUB_DELIMS = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                          b"-._~!$&'()*+,;=")
_REG_NAME_CHARS: Final = _UNRESERVED_SUB_DELIMS + b"%"
_IP_LITERAL_CHARS: Final = _UNRESERVED_SUB_DELIMS + b":"
_HEX: Final = b"0123456789abcdefABCDEF"


def valid_host(value: bytes) -> bool:
    """A Host field value per RFC 9112 section 3.2: uri-host [ ":" port ]; empty is valid."""
    value = value.strip(b" \t")
    if value.startswith(b"["):
        end = value.find(b"]")
        if end < 2 or value[1:end].translate(None, _IP_LITERAL_CHARS):
            return False
        rest = value[end + 1:]
    else:
        host = value.split(b":", 1)[0]
        if host.translate(None, _REG_NAME_CHARS):
            return False
        position = host.find(b"%")
        while position >= 0:  # pct-encoded: "%" HEXDIG HEXDIG
            pair = host[position + 1:position + 3]
            if len(pair) != 2 or pair.translate(None, _HEX):
                return False
            position = host.find(b"%", position + 3)
        rest = value[len(host):]
    return not rest or (rest[:1] == b":" and not rest[1:].translate(None, b"0123456789"))


def json_too_deep(data: bytes, max_depth: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than `max_depth` (strings skipped).

    A cheap check before json.loads, which raises RecursionError (not ValueError) on deep
    input: a body with no more brackets than the limit is never scanned."""
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 92:  # backslash
                escaped = True
            elif byte == 34:  # quote
                in_string = False
        elif byte == 34:
            in_string = True
        elif byte == 91 or byte == 123:  # [ {
            depth += 1
            if depth > max_depth:
                return True
        elif byte == 93 or byte == 125:  # ] }
            depth -= 1
    return False


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


def request_head(req: Request, host: bytes | None) -> bytes:
    """Request line and end-to-end headers for a backend (without the closing CRLF)."""
    parts = [req.method, b" ", req.url, b" HTTP/1.1\r\n"]
    drop = REQUEST_DROP if not req.hop else REQUEST_DROP | req.hop
    for name, value in req.headers:
        if name in drop or (host is not None and name == b"host"):
            continue
        # Two literal startswith calls: the fastest form once compiled (mypyc primitives).
        if name.startswith(b"x-model") or name.startswith(b"x-prediction"):
            continue
        parts += (name, b": ", value, b"\r\n")
    if host is not None:
        parts += (b"host: ", host, b"\r\n")
    if req.body or req.method not in BODYLESS_METHODS:
        parts += (b"content-length: ", str(len(req.body)).encode(), b"\r\n")
    return b"".join(parts)


def response_bytes(
    status: int, reason: bytes, headers: Headers, body: bytes, extra: bytes, keep_alive: bool
) -> bytes:
    """A full response; `extra` holds pre-encoded header lines the router adds."""
    parts = [b"HTTP/1.1 ", str(status).encode(), b" ", reason or reason_phrase(status), b"\r\n"]
    for name, value in headers:
        if name not in RESPONSE_DROP:
            parts += (name, b": ", value, b"\r\n")
    parts += (extra, b"content-length: ", str(len(body)).encode(), b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)


def response_head(status: int, reason: bytes, headers: Headers, extra: bytes, length: int,
                  keep_alive: bool) -> bytes:
    """The head of a streamed response: content-length when `length` >= 0, else the body
    ends with the connection (so keep_alive must be False)."""
    parts = [b"HTTP/1.1 ", str(status).encode(), b" ", reason or reason_phrase(status), b"\r\n"]
    for name, value in headers:
        if name not in RESPONSE_DROP:
            parts += (name, b": ", value, b"\r\n")
    parts.append(extra)
    if length >= 0:
        parts += (b"content-length: ", str(length).encode(), b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def json_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def json_response(
    status: int, payload: dict[str, Any], keep_alive: bool = True, extra: bytes = b""
) -> bytes:
    return response_bytes(
        status, b"", [(b"content-type", b"application/json")], json_body(payload), extra,
        keep_alive,
    )


def text_response(status: int, body: bytes, content_type: bytes, keep_alive: bool = True) -> bytes:
    return response_bytes(status, b"", [(b"content-type", content_type)], body, b"", keep_alive)
