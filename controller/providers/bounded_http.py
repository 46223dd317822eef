"""One bounded HTTP exchange with a Prometheus whose address and timeout come from a
ModelRollout, i.e. from anyone who may create one (http.client over sockets this module opens):

- one total deadline (DNS, connect, TLS, request, status line, headers, every body read)
  of the rollout's ``timeoutSeconds``, at most the operator's
  ``MODELROLLOUT_PROMETHEUS_MAX_TIMEOUT_SECONDS``: every socket read and write first sets the
  socket's timeout to what is left, so a server trickling one byte at a time still ends at
  the deadline (a plain per-read timeout would never fire);
- at most ``MODELROLLOUT_PROMETHEUS_MAX_RESPONSE_BYTES`` read (in chunks, never the whole
  answer), and at most one JSON value per 16 bytes of that limit parsed, so that the parsed
  answer stays within a few times the limit;
- an address policy: http or https only, no userinfo, and the optional
  ``MODELROLLOUT_PROMETHEUS_ALLOWED`` / ``MODELROLLOUT_PROMETHEUS_DENIED`` lists, whose CIDRs
  are checked against the resolved addresses, and only those addresses are connected to (no
  second resolution to race); no redirects, no proxies, no compressed answers;
- error texts (a non-2xx body, anything taken from an answer) cut to a short excerpt with
  control and non-printable characters replaced, before they reach status or Events.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from controller.analysis.provider import (
    ProviderError,
)
from controller.providers.prometheus_policy import (
    BYTES_PER_JSON_VALUE,
    MAX_RESPONSE_SETTING,
    MAX_TIMEOUT_SETTING,
    ForbiddenAddressError,
    PrometheusPolicy,
    Target,
    excerpt,
    parse_target,
    provider_error,
    size_text,
)

_ERROR_BODY_BYTES = 16 * 1024  # read of a non-2xx body, for its excerpt
_CHUNK_BYTES = 64 * 1024

# --- one bounded HTTP exchange --------------------------------------------------------------


class Deadline:
    """One query's total time; `left()` raises TimeoutError once it has passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def left(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"deadline of {self.seconds:g}s passed")
        return left

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.ends


class _DeadlineSocket(socket.socket):
    """A socket whose every read and write waits at most until the query's deadline."""

    deadline: Deadline | None = None

    def _arm(self) -> None:
        if self.deadline is not None:
            self.settimeout(self.deadline.left())

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes:
        self._arm()
        return super().recv(bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0, /) -> None:
        self._arm()
        super().sendall(data, flags)


class _DeadlineSSLSocket(ssl.SSLSocket):
    """The TLS socket over a _DeadlineSocket: the same deadline for every read and write (the
    handshake runs within the timeout set before wrapping: CPython bounds it as a whole)."""

    deadline: Deadline | None = None

    def _arm(self) -> None:
        if self.deadline is not None:
            self.settimeout(self.deadline.left())

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        self._arm()
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self._arm()
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()
        super().sendall(data, flags)


def tls_context(ca_pem: str | None = None, *, verify: bool = True) -> ssl.SSLContext:
    """Verified against `ca_pem` (PEM certificates) or, without it, the system trust store;
    `verify=False` is spec.analysis.prometheus.insecureSkipVerify. A bad PEM raises SSLError."""
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else \
        ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.sslsocket_class = _DeadlineSSLSocket
    return context


SYSTEM_TRUST = tls_context()


def _resolve(host: str, port: int, deadline: Deadline) -> list[tuple[int, Any]]:
    """getaddrinfo within the deadline: a name is resolved in a helper thread (the resolver
    has its own, longer timeouts), abandoned if the deadline passes first."""
    try:
        ipaddress.ip_address(host)
        literal = True
    except ValueError:
        literal = False
    found: list[Any] = []
    failed: list[OSError] = []

    def resolve() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as error:
            failed.append(error)

    if literal:
        resolve()
    else:
        worker = threading.Thread(target=resolve, name="prometheus-dns", daemon=True)
        worker.start()
        worker.join(deadline.left())
        if worker.is_alive():
            raise TimeoutError(f"resolving {host} took longer than {deadline.seconds:g}s")
    if failed:
        raise OSError(f"cannot resolve {host}: {failed[0]}")
    return [(family, sockaddr) for family, _, _, _, sockaddr in found]


def _open(target: Target, policy: PrometheusPolicy, deadline: Deadline,
          tls: ssl.SSLContext) -> socket.socket:
    """A connected socket to an address the policy permits (each resolved address is
    checked, and only checked addresses are connected to)."""
    refusal = policy.refusal(target.host, target.port, None)
    if refusal is not None:
        raise ForbiddenAddressError(refusal)
    permitted, refusals = [], []
    for family, sockaddr in _resolve(target.host, target.port, deadline):
        ip = ipaddress.ip_address(sockaddr[0].partition("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        refusal = policy.refusal(target.host, target.port, ip)
        if refusal is None:
            permitted.append((family, sockaddr))
        else:
            refusals.append(refusal)
    if not permitted:
        raise ForbiddenAddressError("; ".join(refusals[:3])
                                    or f"{target.host} resolves to no address")
    error: OSError = OSError(f"no address of {target.host} answered")
    for family, sockaddr in permitted:
        sock = _DeadlineSocket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.left())
            sock.connect(sockaddr)
        except OSError as failed:
            sock.close()
            error = failed
            continue
        sock.deadline = deadline
        if not target.tls:
            return sock
        try:
            sock.settimeout(deadline.left())
            wrapped = tls.wrap_socket(sock, server_hostname=target.host)
        except BaseException:
            sock.close()
            raise
        assert isinstance(wrapped, _DeadlineSSLSocket)
        wrapped.deadline = deadline
        return wrapped
    raise error


class _Connection(http.client.HTTPConnection):
    """One request on one new connection (closed after it): http.client parses the answer,
    reading only from the deadline-bound socket of `_open`."""

    def __init__(self, target: Target, policy: PrometheusPolicy, deadline: Deadline,
                 tls: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port)
        if target.tls:
            self.default_port = 443  # for the Host header
        self._target, self._policy, self._deadline = target, policy, deadline
        self._tls = tls

    def connect(self) -> None:
        self.sock = _open(self._target, self._policy, self._deadline, self._tls)


class _TooLargeError(Exception):
    pass


def _read_capped(response: http.client.HTTPResponse, limit: int) -> bytearray:
    """The body, read in chunks; _TooLargeError as soon as it passes `limit` bytes."""
    body = bytearray()
    while True:
        chunk = response.read(min(_CHUNK_BYTES, limit + 1 - len(body)))
        if not chunk:
            return body
        body += chunk
        if len(body) > limit:
            raise _TooLargeError


def _shown(address: str) -> str:
    """The address for a message: short, one line, and without any userinfo's password."""
    scheme, sep, rest = address.partition("://")
    netloc, slash, path = rest.partition("/")
    if sep and "@" in netloc:
        address = f"{scheme}://***@{netloc.rpartition('@')[2]}{slash}{path}"
    return excerpt(address, 100)


def _status_detail(status: int, body: bytes) -> str:
    """`HTTP 400: <Prometheus' error text>`, or an excerpt of whatever else the body is."""
    if 300 <= status < 400:
        return f"HTTP {status} (redirects are not followed)"
    text = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        text = parsed["error"]
    return f"HTTP {status}: {excerpt(text)}" if text.strip() else f"HTTP {status}"


class HttpQueryClient:
    """custom_query / custom_query_range, each one bounded exchange with Prometheus' API."""

    def __init__(self, address: str, timeout_seconds: int, policy: PrometheusPolicy,
                 tls: ssl.SSLContext | str = SYSTEM_TRUST) -> None:
        """`tls`: how an https server is verified, or why it cannot be (e.g. an unreadable
        caBundle): then every query is that provider error."""
        self.address, self.timeout_seconds, self.policy = address, timeout_seconds, policy
        self._tls = tls
        self._target: Target | None = None
        self._refusal = ""
        try:
            self._target = parse_target(address)
        except ForbiddenAddressError as refused:
            self._refusal = str(refused)

    def custom_query(self, query: str, params: dict[str, Any] | None = None) -> Any:
        return self._get("/api/v1/query", {"query": query, **(params or {})}, query)

    def custom_query_range(self, query: str, start_time: datetime, end_time: datetime,
                           step: str, params: dict[str, Any] | None = None) -> Any:
        return self._get("/api/v1/query_range", {
            "query": query, "start": round(start_time.timestamp()),
            "end": round(end_time.timestamp()), "step": step, **(params or {})}, query)

    def _forbidden(self, query: str, why: str) -> ProviderError:
        # 'unreachable': the operator will not reach it, and the look's other queries are
        # skipped (they would be refused alike).
        return provider_error("unreachable", query,
                              f"address {_shown(self.address)} is forbidden: {why}")

    def _get(self, path: str, params: Mapping[str, Any], query: str) -> Any:
        if self._target is None:
            raise self._forbidden(query, self._refusal)
        if isinstance(self._tls, str) and self._target.tls:
            raise provider_error("unreachable", query, self._tls)
        tls = self._tls if isinstance(self._tls, ssl.SSLContext) else SYSTEM_TRUST
        deadline = Deadline(self.timeout_seconds)
        connection = _Connection(self._target, self.policy, deadline, tls)
        try:
            body = self._exchange(connection, f"{self._target.path}{path}?{urlencode(params)}",
                                  query)
        except ProviderError:
            raise
        except ForbiddenAddressError as refused:
            raise self._forbidden(query, str(refused)) from None
        except Exception as failed:
            if isinstance(failed, TimeoutError) or deadline.passed:
                raise provider_error("timeout", query, (
                    f"no complete answer within {self.timeout_seconds}s (connect and all "
                    f"reads; spec.analysis.prometheus.timeoutSeconds, at most "
                    f"{MAX_TIMEOUT_SETTING}={self.policy.max_timeout_seconds})")) from None
            if isinstance(failed, ssl.SSLError):
                raise provider_error("unreachable", query, (
                    f"TLS with {_shown(self.address)} failed: {failed} (the server is verified "
                    "against spec.analysis.prometheus.caBundle, or the system trust store "
                    "without it)")) from None
            if isinstance(failed, OSError):
                raise provider_error("unreachable", query, str(failed) or repr(failed)) from None
            # http.client's HTTPException, or its ValueError on a broken chunk size
            raise provider_error("query", query, f"not a valid HTTP answer: {failed!r}") from None
        finally:
            connection.close()
        return _result(query, body, self.policy.max_response_bytes)

    def _exchange(self, connection: _Connection, url: str, query: str) -> bytearray:
        connection.request("GET", url, headers={
            "Accept": "application/json", "Accept-Encoding": "identity",
            "Connection": "close", "User-Agent": "modelrollout-operator"})
        # With "Connection: close" the response owns the socket: closing the connection
        # alone would leave it open until the response is collected.
        with connection.getresponse() as response:
            if not 200 <= response.status < 300:
                raise provider_error("query", query,
                             _status_detail(response.status, response.read(_ERROR_BODY_BYTES)))
            limit = self.policy.max_response_bytes
            too_large = provider_error("query", query, (
                f"response larger than {size_text(limit)} ({MAX_RESPONSE_SETTING}); "
                "aggregate the query to one series"))
            if response.length is not None and response.length > limit:
                raise too_large  # said so up front: not read at all
            try:
                return _read_capped(response, limit)
            except _TooLargeError:
                raise too_large from None


def _result(query: str, body: bytearray, limit: int) -> Any:
    """`data.result` of a Prometheus API answer (never echoing the answer itself)."""
    values = body.count(b",") + body.count(b"[") + body.count(b"{") + body.count(b":")
    if values > limit // BYTES_PER_JSON_VALUE:
        raise provider_error("query", query, (
            f"response has more than {limit // BYTES_PER_JSON_VALUE} JSON values "
            f"(1/{BYTES_PER_JSON_VALUE} of {MAX_RESPONSE_SETTING}); aggregate the query to one "
            "series"))
    try:
        answer = json.loads(body)
    except RecursionError:
        raise provider_error("query", query, "unexpected answer: JSON nested too deeply") from None
    except ValueError as error:
        raise provider_error("query", query, f"unexpected answer: not JSON ({error})") from None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict) or "result" not in data:
        raise provider_error("query", query, "unexpected answer: no data.result (is the address "
                     "Prometheus' HTTP API?)")
    return data["result"]
