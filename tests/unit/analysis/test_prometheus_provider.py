"""PrometheusProvider against a stub connection: parsing, and failures kept apart."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from prometheus_api_client.exceptions import PrometheusApiClientException

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
)
from controller.providers.prometheus import PrometheusProvider

pytestmark = pytest.mark.unit

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(END - timedelta(seconds=90), END)
COUNTS = CountsQuery("errors", 'e{variant="{{variant}}"}[{{window}}]',
                     'r{variant="{{variant}}"}[{{window}}]')


def vector(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [END.timestamp(), value]}


class Stub:
    """Answers each query text from a table (a callable raises or computes)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def _reply(self, query: str, params: dict[str, Any] | None) -> Any:
        self.seen.append((query, params or {}))
        answer = self.answers.get(query, [])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def custom_query(self, query: str, params: dict[str, Any] | None = None,
                     timeout: int | None = None) -> Any:
        return self._reply(query, params)

    def custom_query_range(self, query: str, start_time: datetime, end_time: datetime,
                           step: str, params: dict[str, Any] | None = None,
                           timeout: int | None = None) -> Any:
        return self._reply(f"{query}@{step}", params)


def provider(answers: dict[str, Any]) -> tuple[PrometheusProvider, Stub]:
    stub = Stub(answers)
    return PrometheusProvider("http://prometheus:9090", 3, connection=stub), stub


def test_counts_are_evaluated_at_the_window_end_with_variant_and_window_filled_in() -> None:
    p, stub = provider({'e{variant="candidate"}[90s]': [vector("2.5")],
                        'r{variant="candidate"}[90s]': [vector("250.5")]})
    assert p.counts(COUNTS, "candidate", WINDOW) == Counts(2.5, 250.5)
    assert [q for q, _ in stub.seen] == ['r{variant="candidate"}[90s]',
                                          'e{variant="candidate"}[90s]']
    assert stub.seen[0][1] == {"time": END.timestamp(), "timeout": "3s"}


def test_no_series_is_empty_never_zero() -> None:
    p, _ = provider({})
    answer = p.counts(COUNTS, "stable", WINDOW)
    assert answer == Empty('r{variant="stable"}[90s]')
    assert isinstance(answer, Empty)
    assert answer.describe() == 'no series for r{variant="stable"}[90s]'


def test_an_empty_numerator_is_zero_only_where_the_template_says_so() -> None:
    answers = {'r{variant="stable"}[90s]': [vector("100")]}
    p, _ = provider(answers)
    assert isinstance(p.counts(COUNTS, "stable", WINDOW), Empty)
    router = CountsQuery("errors", COUNTS.successes, COUNTS.trials,
                         empty_successes_are_zero=True)
    assert p.counts(router, "stable", WINDOW) == Counts(0.0, 100.0)


@pytest.mark.parametrize(("value", "why"), [("NaN", "value nan"), ("+Inf", "value inf")])
def test_non_finite_values_are_empty(value: str, why: str) -> None:
    p, _ = provider({'r{variant="stable"}[90s]': [vector(value)]})
    answer = p.counts(COUNTS, "stable", WINDOW)
    assert isinstance(answer, Empty)
    assert answer.why == why


ErrorFactory = Callable[[], Exception]


@pytest.mark.parametrize(("error", "kind", "text"), [
    (lambda: requests.ReadTimeout("read timed out"), "timeout", "timed out: read timed out"),
    (lambda: requests.ConnectTimeout("connect timed out"), "timeout", "timed out"),
    (lambda: requests.ConnectionError("Connection refused"), "unreachable",
     "Prometheus unreachable: Connection refused"),
    (lambda: PrometheusApiClientException(
        "HTTP Status Code 400 (b'{\"status\":\"error\",\"errorType\":\"bad_data\","
        "\"error\":\"1:5: parse error: unexpected \\\\\"(\\\\\"\"}')"), "query",
     'query failed: HTTP Status Code 400: 1:5: parse error: unexpected "("'),
    (lambda: ValueError("Expecting value"), "query", "unexpected answer"),
])
def test_failures_keep_their_kind(error: ErrorFactory, kind: str, text: str) -> None:
    p, _ = provider({'r{variant="stable"}[90s]': error()})
    with pytest.raises(ProviderError) as raised:
        p.counts(COUNTS, "stable", WINDOW)
    assert raised.value.kind == kind
    assert text in raised.value.describe()


def test_several_series_where_one_is_expected_is_a_query_error() -> None:
    p, _ = provider({'r{variant="stable"}[90s]': [vector("1", pod="a"), vector("2", pod="b")]})
    with pytest.raises(ProviderError, match=r"returned 2 series; aggregate it"):
        p.counts(COUNTS, "stable", WINDOW)


HIST = HistogramQuery("lat", 'b{variant="{{variant}}"}', 's{variant="{{variant}}"}')


def test_histogram_buckets_are_sorted_and_kept_cumulative() -> None:
    buckets = [vector("10.2", le="+Inf"), vector("4", le="0.1"), vector("3.9", le="0.05"),
               vector("3.95", le="0.25")]
    p, _ = provider({'b{variant="stable"}': buckets, 's{variant="stable"}': [vector("0.7")]})
    answer = p.histogram(HIST, "stable", WINDOW)
    assert answer == BucketCounts(((0.05, 3.9), (0.1, 4.0), (0.25, 4.0), (math.inf, 10.2)), 0.7)


def test_a_histogram_without_its_inf_bucket_is_empty() -> None:
    p, _ = provider({'b{variant="stable"}': [vector("1", le="0.1")]})
    answer = p.histogram(HIST, "stable", WINDOW)
    assert isinstance(answer, Empty)
    assert answer.why == "no +Inf bucket"


def test_bucket_series_must_be_summed_by_le() -> None:
    p, _ = provider({'b{variant="stable"}': [vector("1", le="0.1"), vector("2", le="0.1")]})
    with pytest.raises(ProviderError, match="sum by"):
        p.histogram(HIST, "stable", WINDOW)


def test_value_form_is_a_range_query_summarised() -> None:
    query = SummaryQuery("score", 'avg(s{variant="{{variant}}"})', 15)
    series = [{"metric": {}, "values": [[1, "0.5"], [16, "0.7"], [31, "NaN"]]}]
    p, _ = provider({'avg(s{variant="candidate"})@15s': series})
    assert p.summary(query, "candidate", WINDOW) == Summary(2.0, 1.2, 0.74)
