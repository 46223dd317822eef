"""The operator's Kubernetes API client: every call bounded in time, and a readiness probe.

The client library sends a request with no timeout unless each call passes one; a frozen API
server would then hold a reconcile thread for as long as it stays frozen. Here every request
that names no timeout of its own gets the operator's (connect, and the whole call), and none is
retried by urllib3: a failed call fails the reconcile, which the loop retries
(controller.operator.recovery).
"""

from __future__ import annotations

from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.operator.settings import ApiSettings

# The probe is one small GET: it answers fast or the API is not back yet.
PROBE_TIMEOUT = urllib3.Timeout(connect=1.0, total=2.0)


class _Bounded:
    """A urllib3 manager whose requests without a timeout get `bound`."""

    bound: urllib3.Timeout

    def urlopen(self, method: str, url: str, redirect: bool = True,
                **kw: Any) -> urllib3.BaseHTTPResponse:
        if kw.get("timeout") is None:
            kw["timeout"] = self.bound
        response: urllib3.BaseHTTPResponse = super().urlopen(  # type: ignore[misc]
            method, url, redirect=redirect, **kw)
        return response


def call_timeout(settings: ApiSettings) -> urllib3.Timeout:
    return urllib3.Timeout(connect=float(settings.connect_timeout_seconds),
                           total=float(settings.timeout_seconds))


def bounded_api_client(configuration: client.Configuration,
                       settings: ApiSettings) -> client.ApiClient:
    """An ApiClient whose every request is bounded by `settings` and never retried."""
    configuration.retries = urllib3.Retry(total=0, redirect=False)
    api = client.ApiClient(configuration)
    manager = api.rest_client.pool_manager
    # The same manager (plain, proxy or SOCKS, as the client chose it) with _Bounded first.
    manager.__class__ = type(f"Bounded{type(manager).__name__}", (_Bounded, type(manager)), {})
    setattr(manager, "bound", call_timeout(settings))  # noqa: B010 (not a PoolManager attribute)
    return api


def api_ready(api: client.ApiClient) -> bool:
    """GET /readyz (every caller may read it): True once the API server serves again."""
    try:
        response = api.call_api("GET", f"{api.configuration.host}/readyz",
                                header_params=_auth_headers(api),
                                _request_timeout=(1.0, 2.0))
        response.read()  # type: ignore[no-untyped-call]
    except (ApiException, urllib3.exceptions.HTTPError, OSError):
        return False
    return bool(response.status == 200)


def _auth_headers(api: client.ApiClient) -> dict[str, str]:
    headers: dict[str, str] = {}
    for setting in api.configuration.auth_settings().values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[str(setting["key"])] = str(setting["value"])
    return headers
