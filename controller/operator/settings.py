"""The operator's settings: read once from the environment in `main()`, then passed down.

No module reads the environment at import time; tests build the object they need.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from controller.analysis.analyzer import DEFAULT_MIN_WINDOW_SECONDS, DEFAULT_SCOPE
from controller.api.routing import RouterResources
from controller.contract.metrics import DEFAULT_UNIT_BUCKETS, MAX_UNIT_BUCKETS
from controller.providers.prometheus_policy import (
    ALLOWED_SETTING,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_TIMEOUT_SECONDS,
    DENIED_SETTING,
    MAX_RESPONSE_SETTING,
    MAX_TIMEOUT_SETTING,
    MIN_RESPONSE_BYTES,
    AddressRule,
    PrometheusPolicy,
    parse_address_rules,
)

DEFAULT_ROUTER_IMAGE = "modelrollout/modelrollout:0.1.0"
# Pods labelled as Prometheus in any namespace (the community chart and the operator's label).
DEFAULT_ADMIN_PEERS: tuple[Mapping[str, Any], ...] = (
    {"namespaceSelector": {}, "podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "prometheus"}}},)
MAX_ADMIN_PEERS = 16
# Each router pod's requests and limits unless its rollout sets trafficRouting.builtin.resources.
DEFAULT_ROUTER_RESOURCES = RouterResources.model_validate(
    {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}})

# The environment variables, documented in the README ("Operator settings").
ROUTER_IMAGE_ENV = "MODELROLLOUT_ROUTER_IMAGE"
ROUTER_SERVICE_ACCOUNT_ENV = "MODELROLLOUT_ROUTER_SERVICE_ACCOUNT"
ROUTER_RESOURCES_ENV = "MODELROLLOUT_ROUTER_RESOURCES"
ADDRESSES_ENV = "MODELROLLOUT_ADDRESSES"
ROUTER_ADMIN_PEERS_ENV = "MODELROLLOUT_ROUTER_ADMIN_PEERS"
ROUTER_VERIFY_INTERVAL_ENV = "MODELROLLOUT_ROUTER_VERIFY_INTERVAL_SECONDS"
ROUTER_CATCH_UP_ENV = "MODELROLLOUT_ROUTER_CATCH_UP_SECONDS"
ROUTER_UNIT_BUCKETS_ENV = "MODELROLLOUT_ROUTER_UNIT_BUCKETS"
PROMETHEUS_SCOPE_ENV = "MODELROLLOUT_PROMETHEUS_SCOPE"
MIN_WINDOW_ENV = "MODELROLLOUT_MIN_WINDOW_SECONDS"
METRICS_ADDRESS_ENV = "MODELROLLOUT_METRICS_ADDRESS"
API_CONNECT_TIMEOUT_ENV = "MODELROLLOUT_API_CONNECT_TIMEOUT_SECONDS"
API_TIMEOUT_ENV = "MODELROLLOUT_API_TIMEOUT_SECONDS"
API_PROBE_INTERVAL_ENV = "MODELROLLOUT_API_PROBE_INTERVAL_MILLISECONDS"
MAX_BACKOFF_ENV = "MODELROLLOUT_MAX_BACKOFF_SECONDS"
# What a rollout's spec.analysis.prometheus may do (controller/providers/prometheus.py).
PROMETHEUS_MAX_TIMEOUT_ENV = MAX_TIMEOUT_SETTING
PROMETHEUS_MAX_RESPONSE_ENV = MAX_RESPONSE_SETTING
PROMETHEUS_ALLOWED_ENV = ALLOWED_SETTING
PROMETHEUS_DENIED_ENV = DENIED_SETTING


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class BuiltinRouterSettings:
    """How the operator runs the builtin model router for each rollout."""

    image: str = DEFAULT_ROUTER_IMAGE
    # Empty: each rollout's router runs as its own ServiceAccount `<name>-router`, which the
    # operator creates with a Role that reads only `<name>-routing`. Set: every router runs as
    # this user-managed account (it must be allowed to list and watch the table ConfigMap).
    service_account: str = ""
    resources: RouterResources = DEFAULT_ROUTER_RESOURCES
    # Where a revision really answers when its pods cannot (kwok's pods are not processes):
    # a revision hash, or a Service DNS name, to host:port. The local demo uses it.
    address_overrides: Mapping[str, str] = field(default_factory=dict)
    # NetworkPolicy peers admitted to the routers' admin port (/metrics, /table): Prometheus.
    admin_peers: tuple[Mapping[str, Any], ...] = DEFAULT_ADMIN_PEERS
    # What the replicas serve is read at most this often per rollout (through the rollout's
    # Prometheus), and a replica still on an earlier table this long after a write has
    # drifted (its watch, then two scrapes).
    verify_interval_seconds: int = 30
    catch_up_seconds: int = 60
    # Hashed unit buckets per variant in each router's series (its --unit-buckets): the
    # analysis's unit-level variance with sticky users; more buckets, more series.
    unit_buckets: int = DEFAULT_UNIT_BUCKETS


@dataclass(frozen=True)
class ApiSettings:
    """How the operator talks to the Kubernetes API when it is slow or away."""

    # Every call: the TCP/TLS connect, and the whole call (connect and every read).
    connect_timeout_seconds: int = 5
    timeout_seconds: int = 30
    # While a reconcile waits for an unreachable API, its readiness is probed this often, and
    # the reconcile runs again as soon as a probe succeeds.
    probe_interval_milliseconds: int = 500
    # The longest wait after failed reconciles (they back off 1, 2, 5, 10, 30 s, capped here).
    max_backoff_seconds: int = 30


@dataclass(frozen=True)
class OperatorSettings:
    router: BuiltinRouterSettings = BuiltinRouterSettings()
    # label matchers added to every analysis query ({namespace} and {name} are filled in)
    prometheus_scope: str = DEFAULT_SCOPE
    # increase() needs a few scrapes in the window: lower it only with fast scraping
    min_window_seconds: int = DEFAULT_MIN_WINDOW_SECONDS
    metrics_address: str | None = None  # host:port of /metrics; None serves none
    # the deadline, size and address limits of every analysis query
    prometheus: PrometheusPolicy = field(default_factory=PrometheusPolicy)
    api: ApiSettings = ApiSettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OperatorSettings:
        """From `environ` (default: this process's environment); SettingsError names the
        variable that cannot be used."""
        environ = os.environ if environ is None else environ
        return cls(
            router=BuiltinRouterSettings(
                image=environ.get(ROUTER_IMAGE_ENV) or DEFAULT_ROUTER_IMAGE,
                service_account=environ.get(ROUTER_SERVICE_ACCOUNT_ENV, ""),
                resources=_router_resources(environ.get(ROUTER_RESOURCES_ENV, "")),
                address_overrides=_addresses(environ.get(ADDRESSES_ENV, "")),
                admin_peers=_peers(environ.get(ROUTER_ADMIN_PEERS_ENV, "")),
                verify_interval_seconds=_whole_seconds(
                    ROUTER_VERIFY_INTERVAL_ENV, environ.get(ROUTER_VERIFY_INTERVAL_ENV, ""), 30),
                catch_up_seconds=_whole_seconds(
                    ROUTER_CATCH_UP_ENV, environ.get(ROUTER_CATCH_UP_ENV, ""), 60),
                unit_buckets=_bounded(ROUTER_UNIT_BUCKETS_ENV, environ, DEFAULT_UNIT_BUCKETS,
                                      2, MAX_UNIT_BUCKETS, "unit buckets"),
            ),
            prometheus_scope=environ.get(PROMETHEUS_SCOPE_ENV, DEFAULT_SCOPE),
            min_window_seconds=_whole_seconds(MIN_WINDOW_ENV, environ.get(MIN_WINDOW_ENV, ""),
                                              DEFAULT_MIN_WINDOW_SECONDS),
            metrics_address=environ.get(METRICS_ADDRESS_ENV) or None,
            prometheus=PrometheusPolicy(
                max_timeout_seconds=_whole_number(
                    PROMETHEUS_MAX_TIMEOUT_ENV, environ.get(PROMETHEUS_MAX_TIMEOUT_ENV, ""),
                    DEFAULT_MAX_TIMEOUT_SECONDS, 1, "a whole number of seconds"),
                max_response_bytes=_whole_number(
                    PROMETHEUS_MAX_RESPONSE_ENV, environ.get(PROMETHEUS_MAX_RESPONSE_ENV, ""),
                    DEFAULT_MAX_RESPONSE_BYTES, MIN_RESPONSE_BYTES, "a whole number of bytes"),
                allowed=_address_rules(PROMETHEUS_ALLOWED_ENV,
                                       environ.get(PROMETHEUS_ALLOWED_ENV, "")),
                denied=_address_rules(PROMETHEUS_DENIED_ENV,
                                      environ.get(PROMETHEUS_DENIED_ENV, "")),
            ),
            api=_api_settings(environ),
        )


def _api_settings(environ: Mapping[str, str]) -> ApiSettings:
    default = ApiSettings()
    connect = _bounded(API_CONNECT_TIMEOUT_ENV, environ, default.connect_timeout_seconds,
                       1, 300, "seconds")
    total = _bounded(API_TIMEOUT_ENV, environ, default.timeout_seconds, 1, 600, "seconds")
    if connect > total:
        raise SettingsError(f"{API_CONNECT_TIMEOUT_ENV}: must not exceed {API_TIMEOUT_ENV} "
                            f"({connect} > {total})")
    return ApiSettings(
        connect_timeout_seconds=connect, timeout_seconds=total,
        probe_interval_milliseconds=_bounded(API_PROBE_INTERVAL_ENV, environ,
                                             default.probe_interval_milliseconds,
                                             50, 60_000, "milliseconds"),
        max_backoff_seconds=_bounded(MAX_BACKOFF_ENV, environ, default.max_backoff_seconds,
                                     1, 3600, "seconds"))


def _bounded(variable: str, environ: Mapping[str, str], default: int, minimum: int,
             maximum: int, unit: str) -> int:
    text = environ.get(variable, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or not minimum <= int(text) <= maximum:
        raise SettingsError(f"{variable}: must be a whole number of {unit} from {minimum} to "
                            f"{maximum}, got {text!r}")
    return int(text)


def _addresses(text: str) -> dict[str, str]:
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"{ADDRESSES_ENV}: not JSON: {error}") from None
    if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()):
        raise SettingsError(f"{ADDRESSES_ENV}: must be a JSON object of strings")
    return parsed


def _peers(text: str) -> tuple[Mapping[str, Any], ...]:
    """A JSON list of NetworkPolicyPeer objects (podSelector, namespaceSelector, ipBlock)."""
    if not text:
        return DEFAULT_ADMIN_PEERS
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"{ROUTER_ADMIN_PEERS_ENV}: not JSON: {error}") from None
    allowed = {"podSelector", "namespaceSelector", "ipBlock"}
    if (not isinstance(parsed, list) or len(parsed) > MAX_ADMIN_PEERS or not all(
            isinstance(p, dict) and p and set(p) <= allowed for p in parsed)):
        raise SettingsError(f"{ROUTER_ADMIN_PEERS_ENV}: must be a JSON list of at most "
                            f"{MAX_ADMIN_PEERS} NetworkPolicy peers ({', '.join(sorted(allowed))})")
    return tuple(parsed)


def _router_resources(text: str) -> RouterResources:
    """JSON like {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}};
    unset or empty keeps the default."""
    if not text.strip():
        return DEFAULT_ROUTER_RESOURCES
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"{ROUTER_RESOURCES_ENV}: not JSON: {error}") from None
    try:
        return RouterResources.model_validate(parsed)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
            for e in error.errors())
        raise SettingsError(f"{ROUTER_RESOURCES_ENV}: {problems}") from None


def _whole_number(variable: str, text: str, default: int, minimum: int, what: str) -> int:
    text = text.strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < minimum:
        raise SettingsError(f"{variable}: must be {what} >= {minimum}, got {text!r}")
    return int(text)


def _address_rules(variable: str, text: str) -> tuple[AddressRule, ...]:
    try:
        return parse_address_rules(text)
    except ValueError as error:
        raise SettingsError(f"{variable}: {error} (comma-separated host, host:port, IP, "
                            "ip:port or CIDR entries)") from None


def _whole_seconds(variable: str, text: str, default: int) -> int:
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 86_400:
        raise SettingsError(f"{variable}: must be a whole number of seconds from 1 to 86400, "
                            f"got {text!r}")
    return int(text)
