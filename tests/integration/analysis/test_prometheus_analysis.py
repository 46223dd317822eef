"""A real Prometheus scraping router-named series: the provider's per-variant observations,
counter resets, and the error paths of a stopped or silent Prometheus."""

from __future__ import annotations

import math
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.analysis.analyzer import PrometheusAnalyzer
from controller.analysis.provider import BucketCounts, Counts, CountsQuery, Empty, ProviderError
from controller.analysis.templates import MetricPlan, plan_metric, traffic_query
from controller.api.analysis import Metric
from controller.api.spec import ModelRolloutSpec
from controller.api.status import ModelRolloutStatus, Traffic
from controller.providers.prometheus import PrometheusProvider, prometheus_provider
from controller.rollout.conditions import rfc3339
from controller.rollout.model import AnalysisOutcome, Observation
from controller.rollout.ref import RolloutRef
from tests.cluster.metrics_endpoint import MetricsEndpoint
from tests.cluster.prometheus import Prometheus, start_prometheus
from tests.integration.analysis.series import RouterSeries, scraped_after, window_around

pytestmark = pytest.mark.integration

ROLLOUT = RolloutRef("fraud", "models", "uid", 8080)
INF = math.inf
STABLE_LATENCY = {0.05: 5000.0, 0.1: 3000.0, 0.25: 1500.0, 0.5: 400.0, INF: 100.0}
CANDIDATE_LATENCY = {0.05: 800.0, 0.1: 800.0, 0.25: 600.0, 0.5: 250.0, INF: 50.0}
METRICS: list[dict[str, Any]] = [
    {"name": "errors", "template": "errorRate"},
    {"name": "slow", "template": "latencyOver", "thresholdMilliseconds": 250},
    {"name": "latency", "template": "latencyShift"},
    {"name": "agreement", "template": "shadowAgreement", "toleranceBasisPoints": 200},
    {"name": "accuracy", "template": "feedbackAccuracy"},
]


@dataclass
class Scraped:
    series: RouterSeries
    window: Any
    provider: PrometheusProvider

    def plan(self, index: int) -> MetricPlan:
        return plan_metric(Metric.model_validate(METRICS[index]), index,
                           scope=self.series.scope, step_seconds=1)


def _change(series: RouterSeries) -> None:
    series.requests("stable", 9900, 100)
    series.requests("candidate", 2250, 250)
    series.latency("stable", STABLE_LATENCY, 1000.0)
    series.latency("candidate", CANDIDATE_LATENCY, 400.0)
    series.comparisons("candidate", 1900, 100)
    series.feedback("stable", 900, 100)
    series.feedback("candidate", 230, 20)


@pytest.fixture(scope="module")
def scraped(prometheus: Prometheus, metrics_endpoint: MetricsEndpoint) -> Scraped:
    series = RouterSeries(metrics_endpoint)
    window = window_around(prometheus, series, lambda: _change(series), stable_ok=9900)
    return Scraped(series, window, PrometheusProvider(prometheus.url, 5))


def _scale(observed: float, expected: float) -> float:
    """increase() extrapolates a little towards the window's end; never below the change."""
    factor = observed / expected
    assert 0.99 <= factor <= 1.6, (observed, expected)
    return factor


def _counts(scraped: Scraped, query: CountsQuery, variant: str) -> Counts:
    answer = scraped.provider.counts(query, variant, scraped.window)
    assert isinstance(answer, Counts), answer
    return answer


def test_error_rate_counts_live_5xx_and_requests_per_variant(scraped: Scraped) -> None:
    query = scraped.plan(0).query
    assert isinstance(query, CountsQuery)
    for variant, (errors, requests) in {"stable": (100, 10_000),
                                        "candidate": (250, 2500)}.items():
        counts = _counts(scraped, query, variant)
        factor = _scale(counts.trials, requests)
        assert counts.successes == pytest.approx(errors * factor, rel=1e-9)


def test_latency_buckets_and_sum_per_variant(scraped: Scraped) -> None:
    query = scraped.plan(2).query
    for variant, buckets, total in (("stable", STABLE_LATENCY, 1000.0),
                                    ("candidate", CANDIDATE_LATENCY, 400.0)):
        answer = scraped.provider.histogram(query, variant, scraped.window)  # type: ignore[arg-type]
        assert isinstance(answer, BucketCounts), answer
        count = sum(buckets.values())
        factor = _scale(answer.count, count)
        running = 0.0
        for bound, cumulative in answer.buckets:
            running += buckets.get(bound, 0.0)
            assert cumulative == pytest.approx(running * factor, rel=1e-9), bound
        assert answer.total == pytest.approx(total * factor, rel=1e-9)


def test_shadow_agreement_counts_the_candidates_comparisons(scraped: Scraped) -> None:
    query = scraped.plan(3).query
    assert isinstance(query, CountsQuery)
    counts = _counts(scraped, query, "candidate")
    factor = _scale(counts.trials, 2000)
    assert counts.successes == pytest.approx(1900 * factor, rel=1e-9)


def test_feedback_accuracy_counts_labels_per_variant(scraped: Scraped) -> None:
    query = scraped.plan(4).query
    assert isinstance(query, CountsQuery)
    for variant, (correct, labelled) in {"stable": (900, 1000), "candidate": (230, 250)}.items():
        counts = _counts(scraped, query, variant)
        factor = _scale(counts.trials, labelled)
        assert counts.successes == pytest.approx(correct * factor, rel=1e-9)


def test_live_traffic_for_the_sample_ratio_check(scraped: Scraped) -> None:
    query = traffic_query(scraped.series.scope)
    stable, candidate = (_counts(scraped, query, v).trials for v in ("stable", "candidate"))
    assert stable / candidate == pytest.approx(4.0, rel=1e-9)


def _spec(address: str, **analysis: Any) -> ModelRolloutSpec:
    return ModelRolloutSpec.model_validate({
        "template": {"spec": {"containers": [{"name": "server", "image": "model:2"}]}},
        "port": 8080,
        "strategy": {"canary": {"steps": [{"setWeight": 20},
                                          {"analysis": {"minSamples": 2000}}]}},
        "analysis": {"prometheus": {"address": address, "timeoutSeconds": 2},
                     "metrics": METRICS, **analysis}})


def _observation(spec: ModelRolloutSpec, window: Any, analysis: Any = None) -> Observation:
    status = ModelRolloutStatus(
        stable_revision="r1", candidate_revision="r2", current_step_index=1,
        step_started_at=rfc3339(window.start), analysis=analysis,
        traffic=Traffic(stable_weight=80, candidate_weight=20))
    return Observation(spec=spec, status=status, generation=1, now=window.end)


def test_the_analyzer_fails_a_regression_from_real_prometheus_data(
    scraped: Scraped, prometheus: Prometheus
) -> None:
    analyzer = PrometheusAnalyzer(prometheus_provider, scope=scraped.series.scope,
                                  min_window_seconds=2)
    outcome = analyzer.evaluate(ROLLOUT, _observation(_spec(prometheus.url), scraped.window))
    assert (outcome.verdict, outcome.action) == ("Fail", "Rollback")
    assert outcome.status is not None
    by_name = {m.name: m for m in outcome.status.metrics}
    assert by_name["errors"].verdict == "Fail"
    # 10% vs 1%, up to the rounding of extrapolated counts (e.g. 9.98% vs 0.998%).
    assert by_name["errors"].estimate == pytest.approx(0.09, abs=0.002)
    reason = by_name["errors"].reason
    assert re.match(r"errors: candidate (9\.9\d*|10(\.0\d*)?)% vs stable (0\.99\d*|1(\.00\d*)?)% "
                    r"\(\+\d+(\.\d+)? pts, 90% CI ", reason), reason
    assert by_name["latency"].verdict == "Fail"
    # A live step does not mirror the candidate: agreement is left out, not held in NoData
    # (its query is checked in test_shadow_agreement_counts_the_candidates_comparisons).
    assert "agreement" not in by_name
    assert outcome.status.sample_ratio_p_value is not None
    assert outcome.status.sample_ratio_p_value > 0.9  # 80/20 configured and observed


def test_a_counter_reset_inside_the_window_is_counted_not_subtracted(
    prometheus: Prometheus, metrics_endpoint: MetricsEndpoint
) -> None:
    series = RouterSeries(metrics_endpoint)

    def grow_then_restart() -> None:
        series.requests("stable", 50, 0)
        scraped_after(prometheus, series, 0.0, 50.0)
        series.requests("stable", 10, 0)  # the router restarted and counts from zero

    window = window_around(prometheus, series, grow_then_restart, stable_ok=10)
    query = traffic_query(series.scope)
    answer = PrometheusProvider(prometheus.url, 5).counts(query, "stable", window)
    assert isinstance(answer, Counts)
    _scale(answer.trials, 60)


def test_a_variant_without_series_is_empty(scraped: Scraped) -> None:
    query = traffic_query('run="no-such-run"')
    answer = scraped.provider.counts(query, "candidate", scraped.window)
    assert isinstance(answer, Empty)


def test_bad_promql_is_a_query_error_with_prometheus_message(scraped: Scraped) -> None:
    broken = CountsQuery("broken", None, "sum(rate(x[{{window}}])")
    with pytest.raises(ProviderError) as raised:
        scraped.provider.counts(broken, "stable", scraped.window)
    assert raised.value.kind == "query"
    assert "parse error" in raised.value.describe()


@pytest.fixture
def stopped_prometheus(tmp_path: Path, metrics_endpoint: MetricsEndpoint) -> str:
    instance = start_prometheus(tmp_path / "prometheus", [metrics_endpoint.target])
    instance.stop()
    return instance.url


def test_a_stopped_prometheus_is_a_counted_error_never_a_pass(
    scraped: Scraped, stopped_prometheus: str
) -> None:
    spec = _spec(stopped_prometheus, onProviderError={"action": "Rollback",
                                                      "maxConsecutive": 1})
    analyzer = PrometheusAnalyzer(prometheus_provider, scope=scraped.series.scope,
                                  min_window_seconds=2)
    outcomes: list[AnalysisOutcome] = []
    analysis = None
    for _ in range(2):
        outcome = analyzer.evaluate(ROLLOUT, _observation(spec, scraped.window, analysis))
        outcomes.append(outcome)
        analysis = outcome.status
    assert [(o.verdict, o.action) for o in outcomes] == [("Error", "Hold"),
                                                          ("Error", "Rollback")]
    assert [o.status.consecutive_errors for o in outcomes if o.status] == [1, 2]
    assert "Prometheus unreachable" in outcomes[-1].reason
    with pytest.raises(ProviderError) as raised:
        PrometheusProvider(stopped_prometheus, 2).counts(
            traffic_query(""), "stable", scraped.window)
    assert raised.value.kind == "unreachable"


def test_a_silent_prometheus_times_out(scraped: Scraped) -> None:
    # A listening socket nobody accepts from: connections queue, no answer ever comes.
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ProviderError) as raised:
            PrometheusProvider(address, 1).counts(traffic_query(""), "stable", scraped.window)
    assert raised.value.kind == "timeout"
    assert "timed out" in raised.value.describe()
