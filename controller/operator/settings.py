"""The operator's settings: read once from the environment in `main()`, then passed down.

No module reads the environment at import time; tests build the object they need.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.analysis.analyzer import DEFAULT_MIN_WINDOW_SECONDS, DEFAULT_SCOPE
from controller.providers.prometheus import (
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

# The environment variables, documented in the README ("Operator settings").
ROUTER_IMAGE_ENV = "MODELROLLOUT_ROUTER_IMAGE"
ROUTER_SERVICE_ACCOUNT_ENV = "MODELROLLOUT_ROUTER_SERVICE_ACCOUNT"
ADDRESSES_ENV = "MODELROLLOUT_ADDRESSES"
PROMETHEUS_SCOPE_ENV = "MODELROLLOUT_PROMETHEUS_SCOPE"
MIN_WINDOW_ENV = "MODELROLLOUT_MIN_WINDOW_SECONDS"
METRICS_ADDRESS_ENV = "MODELROLLOUT_METRICS_ADDRESS"
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
    service_account: str = ""  # it must be allowed to watch the table ConfigMap
    # Where a revision really answers when its pods cannot (kwok's pods are not processes):
    # a revision hash, or a Service DNS name, to host:port. The local demo uses it.
    address_overrides: Mapping[str, str] = field(default_factory=dict)


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OperatorSettings:
        """From `environ` (default: this process's environment); SettingsError names the
        variable that cannot be used."""
        environ = os.environ if environ is None else environ
        return cls(
            router=BuiltinRouterSettings(
                image=environ.get(ROUTER_IMAGE_ENV) or DEFAULT_ROUTER_IMAGE,
                service_account=environ.get(ROUTER_SERVICE_ACCOUNT_ENV, ""),
                address_overrides=_addresses(environ.get(ADDRESSES_ENV, "")),
            ),
            prometheus_scope=environ.get(PROMETHEUS_SCOPE_ENV, DEFAULT_SCOPE),
            min_window_seconds=_whole_seconds(environ.get(MIN_WINDOW_ENV, ""),
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
        )


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


def _whole_seconds(text: str, default: int) -> int:
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise SettingsError(f"{MIN_WINDOW_ENV}: must be a whole number of seconds >= 1, "
                            f"got {text!r}")
    return int(text)
