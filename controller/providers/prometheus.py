"""The Prometheus metric provider: Prometheus' HTTP API, read under the operator's limits
(controller.providers.bounded_http: one deadline, a size cap, an address policy per query).

Counts are ``increase(...[<window>])`` evaluated at the window's end, so counter resets
(a restarted router pod) are handled by Prometheus. Every answer is one of: a value,
``Empty`` (no series), or a raised ``ProviderError`` whose kind tells a failed query, a
timeout and an unreachable server apart.
"""

from __future__ import annotations

import http.client
import math
import reprlib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import Field

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
from controller.api.analysis import PrometheusSource
from controller.contract.metrics import MAX_UNIT_BUCKETS, UNIT_BUCKET_LABEL
from controller.providers.bounded_http import SYSTEM_TRUST, HttpQueryClient, tls_context
from controller.providers.prometheus_policy import PrometheusPolicy, provider_error

T = TypeVar("T")
Series = list[dict[str, Any]]

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
        raise provider_error("timeout", query, str(exc)) from exc
    except OSError as exc:
        raise provider_error("unreachable", query, str(exc)) from exc
    except (http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
        raise provider_error("query", query, f"unexpected answer: {exc}") from exc


@contextmanager
def _shape(query: str) -> Iterator[None]:
    """An answer whose JSON is not what Prometheus sends is a failed query, not a crash."""
    try:
        yield
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise provider_error("query", query,
                             f"unexpected answer shape ({type(exc).__name__})") from None


def _sample(query: str, pair: Any) -> float:
    """The value of one [timestamp, "value"] pair."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise provider_error("query", query, f"not a [time, value] pair: {reprlib.repr(pair)}")
    return _number(query, pair[1])


def _number(query: str, raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise provider_error("query", query, f"not a number: {reprlib.repr(raw)}") from exc


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
            raise provider_error("query", query,
                                 f"expected an instant vector, got {reprlib.repr(result)}")
        return result

    def series(self, query: str, at: datetime) -> list[dict[str, str]]:
        """The label sets of the series an instant query returns."""
        with _shape(query):
            return [{str(k): str(v) for k, v in (s.get("metric") or {}).items()}
                    for s in self._instant(query, at)]

    def _scalar(self, query: str, at: datetime) -> float | Empty:
        series = self._instant(query, at)
        if not series:
            return Empty(query)
        if len(series) > 1:
            raise provider_error("query", query, f"returned {len(series)} series; aggregate it "
                         "to one, e.g. sum(...)")
        with _shape(query):
            value = _sample(query, series[0]["value"])
        return value if math.isfinite(value) else Empty(query, f"value {value}")

    def _per_unit(self, query: str, at: datetime) -> dict[str, float] | Empty:
        """One value per unit bucket (a query grouped by unit_bucket), at most
        MAX_UNIT_BUCKETS of them."""
        series = self._instant(query, at)
        if not series:
            return Empty(query)
        if len(series) > MAX_UNIT_BUCKETS:
            raise provider_error("query", query, f"returned {len(series)} series; at most "
                                 f"{MAX_UNIT_BUCKETS} unit buckets")
        values: dict[str, float] = {}
        with _shape(query):
            for item in series:
                bucket = str((item.get("metric") or {}).get(UNIT_BUCKET_LABEL, ""))
                if bucket in values:
                    raise provider_error("query", query, f"two series for {UNIT_BUCKET_LABEL}="
                                         f"{reprlib.repr(bucket)}; aggregate with sum by "
                                         f"({UNIT_BUCKET_LABEL}) (...)")
                values[bucket] = _sample(query, item["value"])
        if not all(math.isfinite(v) for v in values.values()):
            return Empty(query, "non-finite value")
        return values

    def _counts_by_unit(self, query: CountsQuery, variant: str, window: Window
                        ) -> Counts | Empty:
        trials = self._per_unit(render_query(query.trials, variant, window), window.end)
        if isinstance(trials, Empty):
            return trials
        successes: dict[str, float] = {}
        if query.successes is not None:
            answer = self._per_unit(render_query(query.successes, variant, window),
                                    window.end)
            if isinstance(answer, Empty):
                if not query.empty_successes_are_zero:
                    return answer
                # as for one series: no 5xx series yet means none happened
            else:
                successes = answer
        order = sorted(trials, key=_bucket_order)
        per_unit = tuple((successes.get(k, 0.0), trials[k]) for k in order)
        return Counts(math.fsum(s for s, _ in per_unit), math.fsum(trials.values()), per_unit)

    def counts(self, query: CountsQuery, variant: str, window: Window) -> Counts | Empty:
        if query.by_unit:
            return self._counts_by_unit(query, variant, window)
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
        per_unit = None
        with _shape(text):
            if query.by_unit:
                grouped = _by_unit_bucket(text, series)
                if isinstance(grouped, Empty):
                    return grouped
                buckets, per_unit = _summed(grouped), grouped
            else:
                buckets = _buckets(text, series)
        if isinstance(buckets, Empty):
            return buckets
        total = None
        if query.total is not None:
            value = self._scalar(render_query(query.total, variant, window), window.end)
            if isinstance(value, Empty):
                return value
            total = value
        return BucketCounts(buckets, total, per_unit)

    def summary(self, query: SummaryQuery, variant: str, window: Window) -> Summary | Empty:
        text = render_query(query.value, variant, window)
        result = _call(text, lambda: self._connection.custom_query_range(
            text, window.start, window.end, step=f"{max(query.step_seconds, 1)}s",
            params=self._params()))
        if not isinstance(result, list):
            raise provider_error("query", text,
                                 f"expected a range vector, got {reprlib.repr(result)}")
        if not result:
            return Empty(text)
        with _shape(text):
            if len(result) > 1:
                raise provider_error("query", text, f"returned {len(result)} series; aggregate it "
                             "to one, e.g. avg(...)")
            values = [_sample(text, pair) for pair in result[0]["values"]]
        summary = summarise(values)
        return summary if summary.count > 0 else Empty(text, "no finite values")


def _buckets(query: str, series: Series) -> tuple[tuple[float, float], ...] | Empty:
    pairs: dict[float, float] = {}
    for item in series:
        le = item.get("metric", {}).get("le")
        if le is None:
            raise provider_error("query", query, "a bucket series has no le label; "
                         "aggregate with sum by (le) (...)")
        bound = _number(query, le)
        if bound in pairs:
            raise provider_error("query", query, f"two series for le={reprlib.repr(le)}; "
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


def _bucket_order(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 30, name)


def _by_unit_bucket(query: str, series: Series
                    ) -> tuple[tuple[tuple[float, float], ...], ...] | Empty:
    """Series grouped by (le, unit_bucket) -> each unit bucket's cumulative buckets."""
    groups: dict[str, Series] = {}
    for item in series:
        bucket = str((item.get("metric") or {}).get(UNIT_BUCKET_LABEL, ""))
        groups.setdefault(bucket, []).append(item)
    if len(groups) > MAX_UNIT_BUCKETS:
        raise provider_error("query", query, f"returned {len(groups)} unit buckets; at most "
                             f"{MAX_UNIT_BUCKETS}")
    per_unit = []
    for name in sorted(groups, key=_bucket_order):
        buckets = _buckets(query, groups[name])
        if isinstance(buckets, Empty):
            return buckets
        per_unit.append(buckets)
    return tuple(per_unit)


def _summed(per_unit: tuple[tuple[tuple[float, float], ...], ...]
            ) -> tuple[tuple[float, float], ...] | Empty:
    """All unit buckets together; they must share their bucket bounds."""
    bounds = [le for le, _ in per_unit[0]]
    if any([le for le, _ in unit] != bounds for unit in per_unit):
        return Empty("histogram", "unit buckets with different bucket bounds")
    return tuple((le, math.fsum(unit[i][1] for unit in per_unit))
                 for i, le in enumerate(bounds))


class TrustedSource(PrometheusSource):
    """A spec.analysis.prometheus whose caBundle the operator has read (never on the wire):
    the PEM text, or why there is none."""

    ca_pem: str | None = Field(default=None, exclude=True)
    ca_problem: str | None = Field(default=None, exclude=True)


def source_tls(source: PrometheusSource) -> ssl.SSLContext | str:
    """How an https source is verified, or why it cannot be (then its queries fail)."""
    if source.insecure_skip_verify:
        return tls_context(verify=False)
    if source.ca_bundle is None:
        return SYSTEM_TRUST
    ref = source.ca_bundle.config_map_key_ref
    where = f"spec.analysis.prometheus.caBundle: ConfigMap {ref.name} key {ref.key}"
    if not isinstance(source, TrustedSource) or source.ca_pem is None:
        problem = source.ca_problem if isinstance(source, TrustedSource) else None
        return f"{where}: {problem or 'not read'}"
    try:
        return tls_context(source.ca_pem)
    except (ssl.SSLError, ValueError) as error:
        return f"{where}: not a PEM certificate bundle ({error})"


def prometheus_provider(source: PrometheusSource,
                        policy: PrometheusPolicy | None = None) -> PrometheusProvider:
    """The provider for one `spec.analysis.prometheus`: what PrometheusAnalyzer is given
    (the operator binds `policy` from its settings)."""
    policy = policy or PrometheusPolicy()
    timeout = min(source.timeout_seconds, policy.max_timeout_seconds)
    return PrometheusProvider(source.address, source.timeout_seconds, policy, HttpQueryClient(
        source.address, timeout, policy, source_tls(source)))


def read_series(source: PrometheusSource, query: str,
                policy: PrometheusPolicy | None = None) -> list[dict[str, str]]:
    """The label sets of an instant query's series now (controller.traffic.base.SeriesReader,
    with `policy` bound by the operator)."""
    return prometheus_provider(source, policy).series(query, datetime.now(UTC))
