"""The Prometheus metric provider: Prometheus' HTTP API, read under the operator's limits.

Counts are ``increase(...[<window>])`` evaluated at the window's end, so counter resets
(a restarted router pod) are handled by Prometheus. Every answer is one of: a value,
``Empty`` (no series), or a raised ``ProviderError`` whose kind tells a failed query, a
timeout and an unreachable server apart.

The address and the timeout come from each ModelRollout, i.e. from anyone who may create one,
so every query is one bounded HTTP exchange (http.client over sockets this module opens):

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
import math
import re
import reprlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

from controller.analysis.provider import (
    BucketCounts,
    Counts,
    CountsQuery,
    Empty,
    ErrorKind,
    HistogramQuery,
    ProviderError,
    Summary,
    SummaryQuery,
    Window,
    render_query,
    summarise,
)
from controller.api.spec import PrometheusSource

T = TypeVar("T")
Series = list[dict[str, Any]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The operator settings of this module (controller/operator/settings.py reads them).
MAX_TIMEOUT_SETTING = "MODELROLLOUT_PROMETHEUS_MAX_TIMEOUT_SECONDS"
MAX_RESPONSE_SETTING = "MODELROLLOUT_PROMETHEUS_MAX_RESPONSE_BYTES"
ALLOWED_SETTING = "MODELROLLOUT_PROMETHEUS_ALLOWED"
DENIED_SETTING = "MODELROLLOUT_PROMETHEUS_DENIED"
DEFAULT_MAX_TIMEOUT_SECONDS = 30
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MIN_RESPONSE_BYTES = 1024
BYTES_PER_JSON_VALUE = 16  # at most max_response_bytes / 16 JSON values are parsed

EXCERPT_CHARS = 200  # of a non-2xx body
DETAIL_CHARS = 300  # of any other error text
_ERROR_BODY_BYTES = 16 * 1024  # read of a non-2xx body, for its excerpt
_CHUNK_BYTES = 64 * 1024
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
                       r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")


# --- error texts ----------------------------------------------------------------------------


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """One line of at most `limit` printable characters: whitespace runs become one space,
    other control and non-printable characters (ANSI escapes, bidi overrides, NUL) '?'."""
    cleaned = "".join(c if c.isprintable() else " " if c.isspace() else "?" for c in text)
    line = " ".join(cleaned.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _error(kind: ErrorKind, query: str, detail: str) -> ProviderError:
    return ProviderError(kind, query, excerpt(detail, DETAIL_CHARS))


def _size(count: int) -> str:
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"


# --- the address policy ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressRule:
    """One entry of MODELROLLOUT_PROMETHEUS_ALLOWED or _DENIED.

    A CIDR or an IP address (optionally ``ip:port``, ``[v6]:port``) matches the address a
    query would connect to, after DNS resolution; a host name (optionally ``host:port``)
    matches the host as written in ``spec.analysis.prometheus.address``."""

    text: str
    network: IPNetwork | None = None
    host: str | None = None
    port: int | None = None

    def matches(self, host: str, port: int, ip: IPAddress | None) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return ip is not None and ip.version == self.network.version and ip in self.network
        return host == self.host


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{entry!r}: the port must be 1-65535")
    return int(text)


def _rule(entry: str) -> AddressRule:
    if "://" in entry:
        raise ValueError(f"{entry!r}: write the host (and port), not a URL")
    if "/" in entry:
        try:
            return AddressRule(entry, network=ipaddress.ip_network(entry))
        except ValueError as error:
            raise ValueError(f"{entry!r} is not a CIDR: {error}") from None
    try:
        return AddressRule(entry, network=ipaddress.ip_network(entry))  # a bare IP
    except ValueError:
        pass
    host, port = entry, None
    if entry.startswith("["):
        inner, _, rest = entry[1:].partition("]")
        if not rest.startswith(":"):
            raise ValueError(f"{entry!r}: write an IPv6 address with a port as [ip]:port")
        try:
            network = ipaddress.ip_network(inner)
        except ValueError:
            raise ValueError(f"{entry!r}: {inner!r} is not an IPv6 address") from None
        return AddressRule(entry, network=network, port=_port(rest[1:], entry))
    if ":" in entry:
        host, _, text = entry.rpartition(":")
        port = _port(text, entry)
        try:
            return AddressRule(entry, network=ipaddress.ip_network(host), port=port)
        except ValueError:
            pass
    name = host.lower().removesuffix(".")
    if not _HOSTNAME.match(name):
        raise ValueError(f"{entry!r} is neither a host, host:port nor a CIDR")
    return AddressRule(entry, host=name, port=port)


def parse_address_rules(text: str) -> tuple[AddressRule, ...]:
    """Comma-separated entries (host, host:port, IP, ip:port or CIDR); ValueError names the
    entry that is none of them."""
    return tuple(_rule(entry.strip()) for entry in text.split(",") if entry.strip())


@dataclass(frozen=True)
class PrometheusPolicy:
    """What the operator lets one rollout's `spec.analysis.prometheus` do (OperatorSettings)."""

    max_timeout_seconds: int = DEFAULT_MAX_TIMEOUT_SECONDS
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    allowed: tuple[AddressRule, ...] = ()  # empty: any address not denied
    denied: tuple[AddressRule, ...] = ()  # wins over allowed

    def refusal(self, host: str, port: int, ip: IPAddress | None) -> str | None:
        """Why (host, port, resolved ip) may not be connected to, or None. With ip None,
        only what the name alone decides (a denied name, an allowlist without IP entries)."""
        for rule in self.denied:
            if rule.matches(host, port, ip):
                return f"{ip or host} matches {DENIED_SETTING} entry {rule.text}"
        if not self.allowed or any(r.matches(host, port, ip) for r in self.allowed):
            return None
        if ip is None and any(r.network is not None for r in self.allowed):
            return None  # decided once resolved
        return f"{ip or host} (port {port}) matches no {ALLOWED_SETTING} entry"


class ForbiddenAddressError(Exception):
    """The address may not be queried (scheme, userinfo, or the address policy)."""


@dataclass(frozen=True, slots=True)
class Target:
    address: str  # as written in the spec, for messages
    tls: bool
    host: str  # lower case, without brackets or a trailing dot
    port: int
    path: str  # the base path, without a trailing slash


def parse_target(address: str) -> Target:
    """The URL as the provider will use it; ForbiddenAddressError says why it cannot be used.
    The CRD has the scheme pattern too: this is the check that does not depend on admission."""
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in address):
        raise ForbiddenAddressError("it contains whitespace or control characters")
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError as error:
        raise ForbiddenAddressError(f"it is not a URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ForbiddenAddressError("the scheme must be http or https")
    if "@" in parts.netloc:
        raise ForbiddenAddressError("it carries userinfo (user:password@); "
                        "Prometheus credentials are not supported in the address")
    if not parts.hostname:
        raise ForbiddenAddressError("it has no host")
    if parts.query or parts.fragment or address.endswith(("?", "#")):
        raise ForbiddenAddressError("it has a query or a fragment; give the base URL only")
    tls = parts.scheme.lower() == "https"
    return Target(address, tls, parts.hostname.removesuffix("."), port or (443 if tls else 80),
                  parts.path.rstrip("/"))


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


def _tls_context() -> ssl.SSLContext:
    # As before (prometheus-api-client with disable_ssl=True): the server is not verified.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.sslsocket_class = _DeadlineSSLSocket
    return context


_TLS = _tls_context()


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


def _open(target: Target, policy: PrometheusPolicy, deadline: Deadline) -> socket.socket:
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
            tls = _TLS.wrap_socket(sock, server_hostname=target.host)
        except BaseException:
            sock.close()
            raise
        assert isinstance(tls, _DeadlineSSLSocket)
        tls.deadline = deadline
        return tls
    raise error


class _Connection(http.client.HTTPConnection):
    """One request on one new connection (closed after it): http.client parses the answer,
    reading only from the deadline-bound socket of `_open`."""

    def __init__(self, target: Target, policy: PrometheusPolicy, deadline: Deadline) -> None:
        super().__init__(target.host, target.port)
        if target.tls:
            self.default_port = 443  # for the Host header
        self._target, self._policy, self._deadline = target, policy, deadline

    def connect(self) -> None:
        self.sock = _open(self._target, self._policy, self._deadline)


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

    def __init__(self, address: str, timeout_seconds: int, policy: PrometheusPolicy) -> None:
        self.address, self.timeout_seconds, self.policy = address, timeout_seconds, policy
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
        return _error("unreachable", query, f"address {_shown(self.address)} is forbidden: {why}")

    def _get(self, path: str, params: Mapping[str, Any], query: str) -> Any:
        if self._target is None:
            raise self._forbidden(query, self._refusal)
        deadline = Deadline(self.timeout_seconds)
        connection = _Connection(self._target, self.policy, deadline)
        try:
            body = self._exchange(connection, f"{self._target.path}{path}?{urlencode(params)}",
                                  query)
        except ProviderError:
            raise
        except ForbiddenAddressError as refused:
            raise self._forbidden(query, str(refused)) from None
        except Exception as failed:
            if isinstance(failed, TimeoutError) or deadline.passed:
                raise _error("timeout", query, (
                    f"no complete answer within {self.timeout_seconds}s (connect and all "
                    f"reads; spec.analysis.prometheus.timeoutSeconds, at most "
                    f"{MAX_TIMEOUT_SETTING}={self.policy.max_timeout_seconds})")) from None
            if isinstance(failed, OSError):
                raise _error("unreachable", query, str(failed) or repr(failed)) from None
            # http.client's HTTPException, or its ValueError on a broken chunk size
            raise _error("query", query, f"not a valid HTTP answer: {failed!r}") from None
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
                raise _error("query", query,
                             _status_detail(response.status, response.read(_ERROR_BODY_BYTES)))
            limit = self.policy.max_response_bytes
            too_large = _error("query", query, (
                f"response larger than {_size(limit)} ({MAX_RESPONSE_SETTING}); "
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
        raise _error("query", query, (
            f"response has more than {limit // BYTES_PER_JSON_VALUE} JSON values "
            f"(1/{BYTES_PER_JSON_VALUE} of {MAX_RESPONSE_SETTING}); aggregate the query to one "
            "series"))
    try:
        answer = json.loads(body)
    except RecursionError:
        raise _error("query", query, "unexpected answer: JSON nested too deeply") from None
    except ValueError as error:
        raise _error("query", query, f"unexpected answer: not JSON ({error})") from None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict) or "result" not in data:
        raise _error("query", query, "unexpected answer: no data.result (is the address "
                     "Prometheus' HTTP API?)")
    return data["result"]


# --- the provider ---------------------------------------------------------------------------


class QueryClient(Protocol):
    """The two calls this provider makes (HttpQueryClient; a stub in unit tests)."""

    def custom_query(self, query: str, params: dict[str, Any] | None = None) -> Any: ...

    def custom_query_range(self, query: str, start_time: datetime, end_time: datetime,
                           step: str, params: dict[str, Any] | None = None) -> Any: ...


def _call(query: str, request: Callable[[], T]) -> T:
    """Run one request, turning every failure into a ProviderError of the right kind."""
    try:
        return request()
    except ProviderError:
        raise
    except TimeoutError as exc:
        raise _error("timeout", query, str(exc)) from exc
    except OSError as exc:
        raise _error("unreachable", query, str(exc)) from exc
    except (http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
        raise _error("query", query, f"unexpected answer: {exc}") from exc


@contextmanager
def _shape(query: str) -> Iterator[None]:
    """An answer whose JSON is not what Prometheus sends is a failed query, not a crash."""
    try:
        yield
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise _error("query", query, f"unexpected answer shape ({type(exc).__name__})") from None


def _sample(query: str, pair: Any) -> float:
    """The value of one [timestamp, "value"] pair."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise _error("query", query, f"not a [time, value] pair: {reprlib.repr(pair)}")
    return _number(query, pair[1])


def _number(query: str, raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise _error("query", query, f"not a number: {reprlib.repr(raw)}") from exc


class PrometheusProvider:
    """Implements controller.analysis.provider.MetricProvider against one Prometheus."""

    def __init__(self, address: str, timeout_seconds: int = 5,
                 policy: PrometheusPolicy | None = None,
                 connection: QueryClient | None = None) -> None:
        policy = policy or PrometheusPolicy()
        self.address = address
        self.timeout_seconds = min(timeout_seconds, policy.max_timeout_seconds)
        # No client-side retries: the analyzer counts failed looks and applies the policy,
        # and a retry would hold the reconcile beyond the deadline.
        self._connection: QueryClient = connection or HttpQueryClient(
            address, self.timeout_seconds, policy)

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"timeout": f"{self.timeout_seconds}s", **extra}

    def _instant(self, query: str, at: datetime) -> Series:
        result = _call(query, lambda: self._connection.custom_query(
            query, params=self._params(time=at.timestamp())))
        if not isinstance(result, list):
            raise _error("query", query, f"expected an instant vector, got {reprlib.repr(result)}")
        return result

    def _scalar(self, query: str, at: datetime) -> float | Empty:
        series = self._instant(query, at)
        if not series:
            return Empty(query)
        if len(series) > 1:
            raise _error("query", query, f"returned {len(series)} series; aggregate it "
                         "to one, e.g. sum(...)")
        with _shape(query):
            value = _sample(query, series[0]["value"])
        return value if math.isfinite(value) else Empty(query, f"value {value}")

    def counts(self, query: CountsQuery, variant: str, window: Window) -> Counts | Empty:
        trials = self._scalar(render_query(query.trials, variant, window), window.end)
        if isinstance(trials, Empty):
            return trials
        if query.successes is None:
            return Counts(0.0, trials)
        text = render_query(query.successes, variant, window)
        successes = self._scalar(text, window.end)
        if isinstance(successes, Empty):
            if not query.empty_successes_are_zero:
                return successes
            # The router creates a labelled series on its first event (the first 5xx, the
            # first disagreement): with trials present, no series means none happened.
            successes = 0.0
        return Counts(successes, trials)

    def histogram(self, query: HistogramQuery, variant: str, window: Window
                  ) -> BucketCounts | Empty:
        text = render_query(query.buckets, variant, window)
        series = self._instant(text, window.end)
        if not series:
            return Empty(text)
        with _shape(text):
            buckets = _buckets(text, series)
        if isinstance(buckets, Empty):
            return buckets
        total = None
        if query.total is not None:
            value = self._scalar(render_query(query.total, variant, window), window.end)
            if isinstance(value, Empty):
                return value
            total = value
        return BucketCounts(buckets, total)

    def summary(self, query: SummaryQuery, variant: str, window: Window) -> Summary | Empty:
        text = render_query(query.value, variant, window)
        result = _call(text, lambda: self._connection.custom_query_range(
            text, window.start, window.end, step=f"{max(query.step_seconds, 1)}s",
            params=self._params()))
        if not isinstance(result, list):
            raise _error("query", text, f"expected a range vector, got {reprlib.repr(result)}")
        if not result:
            return Empty(text)
        with _shape(text):
            if len(result) > 1:
                raise _error("query", text, f"returned {len(result)} series; aggregate it "
                             "to one, e.g. avg(...)")
            values = [_sample(text, pair) for pair in result[0]["values"]]
        summary = summarise(values)
        return summary if summary.count > 0 else Empty(text, "no finite values")


def _buckets(query: str, series: Series) -> tuple[tuple[float, float], ...] | Empty:
    pairs: dict[float, float] = {}
    for item in series:
        le = item.get("metric", {}).get("le")
        if le is None:
            raise _error("query", query, "a bucket series has no le label; "
                         "aggregate with sum by (le) (...)")
        bound = _number(query, le)
        if bound in pairs:
            raise _error("query", query, f"two series for le={reprlib.repr(le)}; "
                         "aggregate with sum by (le) (...)")
        pairs[bound] = _sample(query, item["value"])
    if math.inf not in pairs:
        return Empty(query, "no +Inf bucket")
    if not all(math.isfinite(c) for c in pairs.values()):
        return Empty(query, "non-finite bucket count")
    ordered, running = [], 0.0
    for bound in sorted(pairs):
        # increase() extrapolates each bucket on its own: keep the counts cumulative.
        running = max(running, pairs[bound])
        ordered.append((bound, running))
    return tuple(ordered)


def prometheus_provider(source: PrometheusSource,
                        policy: PrometheusPolicy | None = None) -> PrometheusProvider:
    """The provider for one `spec.analysis.prometheus`: what PrometheusAnalyzer is given
    (the operator binds `policy` from its settings)."""
    return PrometheusProvider(source.address, source.timeout_seconds, policy)
