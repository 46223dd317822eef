"""What one rollout's `spec.analysis.prometheus` may do: the operator's limits (deadline,
answer size), the address policy (allowlist, denylist, checked after DNS resolution), the
target URL's rules, and short, sanitized error texts."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from controller.analysis.provider import ErrorKind, ProviderError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The operator settings of these limits (controller/operator/settings.py reads them).
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
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
                       r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")




# --- error texts ----------------------------------------------------------------------------


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """One line of at most `limit` printable characters: whitespace runs become one space,
    other control and non-printable characters (ANSI escapes, bidi overrides, NUL) '?'."""
    cleaned = "".join(c if c.isprintable() else " " if c.isspace() else "?" for c in text)
    line = " ".join(cleaned.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def provider_error(kind: ErrorKind, query: str, detail: str) -> ProviderError:
    return ProviderError(kind, query, excerpt(detail, DETAIL_CHARS))


def size_text(count: int) -> str:
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
