"""One-line error messages for what goes wrong talking to the API (pure: tested with fakes)."""

from __future__ import annotations

import json
import re
import socket
import ssl
from dataclasses import dataclass

from controller.api import GROUP, PLURAL, VERSION

ROLLOUTS = f"{PLURAL}.{GROUP}"
_USER = re.compile(r'User "([^"]+)"')


class PluginError(Exception):
    """Shown to the user as one line on stderr, exit code 1."""


@dataclass(frozen=True)
class Operation:
    verb: str  # the RBAC verb: get, list, watch, patch
    resource: str  # e.g. modelrollouts.rollouts.mlops.dev, events
    namespace: str | None  # None: across all namespaces
    name: str | None = None

    def where(self) -> str:
        return "across all namespaces" if self.namespace is None else \
            f"in namespace {self.namespace}"


def _status_body(body: str | None) -> dict[str, object]:
    try:
        parsed = json.loads(body or "")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def api_error(status: int, reason: str | None, body: str | None, op: Operation,
              server: str) -> str:
    """The message for an HTTP error answer of the API server."""
    document = _status_body(body)
    message = str(document.get("message") or reason or "").splitlines()[0:1]
    said = message[0] if message else ""
    if status == 0:  # the client's own failure, e.g. TLS, reported as an ApiException
        return f"cannot reach the Kubernetes API at {server}: {said or 'connection failed'}"
    if status == 404:
        details = document.get("details")
        if op.name and isinstance(details, dict) and details.get("name") == op.name:
            return f"modelrollout {op.name} not found in namespace {op.namespace}"
        if op.resource == ROLLOUTS:
            return (f"the ModelRollout CRD ({ROLLOUTS}/{VERSION}) is not installed in the "
                    f"cluster at {server}: install it with `kubectl apply --server-side -f "
                    f"crds/` or the Helm chart")
    if status == 401:
        return (f"unauthorized: the Kubernetes API at {server} rejected the credentials "
                f"(check --kubeconfig and --context)")
    if status == 403:
        found = _USER.search(said)
        who = found.group(1) if found else "you"
        return (f"permission denied: {who} cannot {op.verb} {op.resource} {op.where()} "
                f"(RBAC needs verb {op.verb!r} on {op.resource})")
    return f"the Kubernetes API at {server} refused to {op.verb} {op.resource}: {status} {said}"


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what caused it, urllib3's `.reason` included."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (
            current.__cause__ or current.__context__)
    return seen


def connection_error(server: str, error: BaseException) -> str:
    """The message for a request that never got an HTTP answer."""
    return f"cannot reach the Kubernetes API at {server}: {_cause(error)}"


def _cause(error: BaseException) -> str:
    chain = _chain(error)
    for found in chain:
        if isinstance(found, ConnectionRefusedError):
            return "connection refused (is the cluster running?)"
        if isinstance(found, socket.gaierror):
            return "unknown host"
        if isinstance(found, TimeoutError):
            return "timed out"
        if isinstance(found, ssl.SSLError):
            return f"TLS error: {found}"
    for found in chain:  # urllib3 wraps these without keeping the OSError
        name = type(found).__name__
        if "Timeout" in name:
            return "timed out"
        if "NameResolution" in name:
            return "unknown host"
        if "refused" in str(found).lower():
            return "connection refused (is the cluster running?)"
    text = str(chain[-1]).strip().splitlines()
    return (text[0] if text else type(chain[-1]).__name__)[:300]
