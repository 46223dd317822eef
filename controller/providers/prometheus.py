"""The Prometheus metric provider (prometheus-api-client).

Counts are ``increase(...[<window>])`` evaluated at the window's end, so counter resets
(a restarted router pod) are handled by Prometheus. Every answer is one of: a value,
``Empty`` (no series), or a raised ``ProviderError`` whose kind tells a failed query, a
timeout and an unreachable server apart.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from controller.analysis.provider import (
    BucketCounts,
    Counts,
    CountsQuery,
    Empty,
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


class QueryClient(Protocol):
    """The two calls of prometheus_api_client.PrometheusConnect this provider uses."""

    def custom_query(self, query: str, params: dict[str, Any] | None = None,
                     timeout: int | None = None) -> Any: ...

    def custom_query_range(self, query: str, start_time: datetime, end_time: datetime,
                           step: str, params: dict[str, Any] | None = None,
                           timeout: int | None = None) -> Any: ...


def _api_error(exc: PrometheusApiClientException) -> str:
    """Prometheus' own error text (e.g. a PromQL parse error) from the client's message,
    which reads 'HTTP Status Code 400 (b\'{"status":"error","error":"..."}\')'."""
    text = str(exc)
    head, _, body = text.partition(" (")
    try:
        raw = ast.literal_eval(body[:-1]) if body.endswith(")") else None
        detail = json.loads(raw)["error"] if isinstance(raw, bytes | str) else None
    except (ValueError, SyntaxError, KeyError, TypeError):
        detail = None
    return f"{head}: {detail}" if isinstance(detail, str) else text[:300]


def _call(query: str, request: Callable[[], T]) -> T:
    """Run one request, turning every failure into a ProviderError of the right kind."""
    try:
        return request()
    except requests.Timeout as exc:  # before ConnectionError: ConnectTimeout is both
        raise ProviderError("timeout", query, str(exc)[:300]) from exc
    except requests.ConnectionError as exc:
        raise ProviderError("unreachable", query, str(exc)[:300]) from exc
    except PrometheusApiClientException as exc:
        raise ProviderError("query", query, _api_error(exc)) from exc
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise ProviderError("query", query, f"unexpected answer: {exc}"[:300]) from exc


def _number(query: str, raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise ProviderError("query", query, f"not a number: {raw!r}") from exc


class PrometheusProvider:
    """Implements controller.analysis.provider.MetricProvider against one Prometheus."""

    def __init__(self, address: str, timeout_seconds: float = 5.0,
                 connection: QueryClient | None = None) -> None:
        self.address = address
        self.timeout_seconds = timeout_seconds
        # No client-side retries: the analyzer counts failed looks and applies the policy,
        # and a retry with back-off would hold the reconcile far beyond the timeout.
        # read=False lets a read timeout surface as a timeout, not as a connection error.
        self._connection: QueryClient = connection or PrometheusConnect(
            url=address.rstrip("/"), disable_ssl=True, timeout=timeout_seconds,
            retry=Retry(total=0, read=False, status_forcelist=[]))

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"timeout": f"{self.timeout_seconds}s", **extra}

    def _instant(self, query: str, at: datetime) -> Series:
        result = _call(query, lambda: self._connection.custom_query(
            query, params=self._params(time=at.timestamp())))
        if not isinstance(result, list):
            raise ProviderError("query", query, f"expected an instant vector, got {result!r}")
        return result

    def series(self, query: str, at: datetime) -> list[dict[str, str]]:
        """The label sets of the series an instant query returns."""
        return [{str(k): str(v) for k, v in (s.get("metric") or {}).items()}
                for s in self._instant(query, at) if isinstance(s, dict)]

    def _scalar(self, query: str, at: datetime) -> float | Empty:
        series = self._instant(query, at)
        if not series:
            return Empty(query)
        if len(series) > 1:
            raise ProviderError("query", query, f"returned {len(series)} series; aggregate it "
                                "to one, e.g. sum(...)")
        value = _number(query, series[0]["value"][1])
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
        if not result:
            return Empty(text)
        if len(result) > 1:
            raise ProviderError("query", text, f"returned {len(result)} series; aggregate it "
                                "to one, e.g. avg(...)")
        values = [_number(text, v) for _, v in result[0]["values"]]
        summary = summarise(values)
        return summary if summary.count > 0 else Empty(text, "no finite values")


def _buckets(query: str, series: Series) -> tuple[tuple[float, float], ...] | Empty:
    pairs: dict[float, float] = {}
    for item in series:
        le = item.get("metric", {}).get("le")
        if le is None:
            raise ProviderError("query", query, "a bucket series has no le label; "
                                "aggregate with sum by (le) (...)")
        bound = _number(query, le)
        if bound in pairs:
            raise ProviderError("query", query, f"two series for le={le}; "
                                "aggregate with sum by (le) (...)")
        pairs[bound] = _number(query, item["value"][1])
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


def prometheus_provider(source: PrometheusSource) -> PrometheusProvider:
    """The provider for one `spec.analysis.prometheus`: what PrometheusAnalyzer is given."""
    return PrometheusProvider(source.address, source.timeout_seconds)


def read_series(source: PrometheusSource, query: str) -> list[dict[str, str]]:
    """The label sets of an instant query's series now (controller.traffic.base.SeriesReader)."""
    return prometheus_provider(source).series(query, datetime.now(UTC))
