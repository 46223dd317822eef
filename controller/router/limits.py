"""What the router's HTTP server accepts of a client, and how it refuses the rest."""

from __future__ import annotations

from dataclasses import dataclass

from controller.router.wire import json_response

# The answer to a connection over --max-connections (before reading anything from it).
OVERLOADED = json_response(503, {"error": "too many connections, retry later"}, False,
                           b"retry-after: 1\r\n")


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 1 << 20
    max_headers: int = 100
    max_header_bytes: int = 16 << 10
    idle_timeout_s: float = 75.0
    read_timeout_s: float = 30.0
    header_timeout_s: float = 10.0  # from the first byte of a message to its complete head
    max_connections: int = 4096  # per listening port; more are shed with 503


class RequestRejectedError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
