"""Sticky assignment: the unit-bucket queries, their parsing and their observations."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from controller.analysis.labels import labelled
from controller.analysis.observations import Sizing, metric_config, to_observations
from controller.analysis.provider import (
    BucketCounts,
    Counts,
    CountsQuery,
    HistogramQuery,
    ProviderError,
    Window,
)
from controller.analysis.templates import MetricPlan, Shape, plan_metric
from controller.analysis.types import HistogramObservation, ProportionObservation
from controller.analysis.types import UnitBucketedObservation as Units
from controller.api.analysis import Metric
from controller.contract.metrics import MAX_UNIT_BUCKETS
from controller.contract.table import CANDIDATE, STABLE
from controller.providers.prometheus import PrometheusProvider

pytestmark = pytest.mark.unit

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(END - timedelta(seconds=90), END)


def rendered(text: str | None) -> str:
    assert text is not None
    return text.replace("{{variant}}", "stable").replace("{{window}}", "90s")


def counts_query(p: MetricPlan) -> CountsQuery:
    assert isinstance(p.query, CountsQuery)
    return p.query


def histogram_query(p: MetricPlan) -> HistogramQuery:
    assert isinstance(p.query, HistogramQuery)
    return p.query


def plan(unit_level: bool = True, **metric: Any) -> MetricPlan:
    return plan_metric(Metric.model_validate({"name": "m", **metric}), 0,
                       scope='namespace="ns"', step_seconds=15, unit_level=unit_level)


def test_sticky_error_rate_groups_by_unit_bucket_and_random_splits_do_not() -> None:
    sticky, random = plan(template="errorRate"), plan(False, template="errorRate")
    assert sticky.unit_level
    assert not random.unit_level
    assert counts_query(sticky).trials.startswith("sum by (unit_bucket)(increase(")
    assert counts_query(random).trials.startswith("sum(increase(")
    latency = plan(template="latencyOver", thresholdMilliseconds=250)
    assert histogram_query(latency).buckets.startswith("sum by (le, unit_bucket)(")
    # Quantiles stay request-level (a quantile has no per-bucket rate to spread).
    assert not plan(template="latencyQuantile", quantile=99).unit_level


def test_sticky_feedback_accuracy_counts_labels_by_unit_bucket() -> None:
    sticky, random = plan(template="feedbackAccuracy"), plan(False, template="feedbackAccuracy")
    assert sticky.unit_level
    assert not random.unit_level
    query = counts_query(sticky)
    assert query.by_unit
    assert rendered(query.successes) == (
        'sum by (unit_bucket)(increase(modelrouter_feedback_total{variant="stable",'
        'result="correct",namespace="ns"}[90s]))')
    assert rendered(query.trials) == (
        'sum by (unit_bucket)(increase(modelrouter_feedback_total{variant="stable",'
        'result=~"correct|incorrect",namespace="ns"}[90s]))')
    assert rendered(counts_query(random).trials).startswith("sum(increase(")
    # The step's own labels (served window): still by unit bucket; coverage is one total.
    [windowed] = labelled([sticky], [Metric.model_validate(
        {"name": "m", "template": "feedbackAccuracy", "labelDelaySeconds": 60})],
        'namespace="ns"', "v2/step-1")
    assert windowed.unit_level
    assert counts_query(windowed).by_unit
    assert rendered(counts_query(windowed).successes) == (
        'sum by (unit_bucket)(increase(modelrouter_feedback_total{variant="stable",'
        'result="correct",served="v2/step-1",namespace="ns"}[90s]))')
    assert windowed.coverage is not None
    assert not windowed.coverage.by_unit
    # A random split's labels stay request-level within the window too.
    [plain] = labelled([random], [Metric.model_validate(
        {"name": "m", "template": "feedbackAccuracy"})], 'namespace="ns"', "v2/step-1")
    assert not counts_query(plain).by_unit
    assert rendered(counts_query(plain).trials).startswith("sum(increase(")


def test_labels_per_unit_bucket_become_bucketed_observations() -> None:
    p = plan(template="feedbackAccuracy")
    answers = {STABLE: Counts(150.0, 200.0, ((90.0, 100.0), (60.0, 100.0))),
               CANDIDATE: Counts(70.0, 100.0, ((45.0, 50.0), (25.0, 50.0)))}
    base, cand = to_observations(p, answers)
    assert base == Units((90.0, 60.0), (100.0, 100.0))
    assert cand == Units((45.0, 25.0), (50.0, 50.0))


def test_unit_buckets_become_bucketed_observations() -> None:
    p = plan(template="errorRate")
    answers = {STABLE: Counts(3.0, 300.0, ((1.0, 100.0), (2.0, 200.0))),
               CANDIDATE: Counts(1.0, 90.0, ((0.0, 40.0), (1.0, 50.0)))}
    base, cand = to_observations(p, answers)
    assert base == Units((1.0, 2.0), (100.0, 200.0))
    assert cand == Units((0.0, 1.0), (40.0, 50.0))
    # One bucket only (a router without unit buckets): the request-level comparison.
    single = {STABLE: Counts(3.0, 300.0, ((3.0, 300.0),)), CANDIDATE: Counts(1.0, 90.0)}
    assert to_observations(p, single) == (ProportionObservation(3, 300),
                                          ProportionObservation(1, 90))


def test_slow_share_per_unit_bucket() -> None:
    p = plan(template="latencyOver", thresholdMilliseconds=250)
    unit = ((0.25, 8.0), (math.inf, 10.0))
    other = ((0.25, 20.0), (math.inf, 20.0))
    summed = ((0.25, 28.0), (math.inf, 30.0))
    answers = {STABLE: BucketCounts(summed, None, (unit, other)),
               CANDIDATE: BucketCounts(summed, None, (other, unit))}
    base, cand = to_observations(p, answers)
    assert base == Units((2.0, 0.0), (10.0, 20.0))
    assert cand == Units((0.0, 2.0), (20.0, 10.0))
    flat = plan(False, template="latencyOver", thresholdMilliseconds=250)
    assert isinstance(to_observations(flat, answers)[0], HistogramObservation)


def test_latency_quantile_plan_and_config() -> None:
    p = plan(template="latencyQuantile", quantile=99, relativeToleranceBasisPoints=1000)
    assert (p.shape, p.quantile, p.relative_tolerance_bp) == (Shape.LATENCY_QUANTILE, 0.99, 1000)
    config = metric_config(p, Sizing(0.05, 100, 1000, 10, 30), None)
    assert config.relative_tolerance == pytest.approx(0.1)
    assert config.quantile == pytest.approx(0.99)


@pytest.mark.parametrize("metric", [
    {"template": "latencyQuantile"},  # no quantile
    {"template": "errorRate", "quantile": 99},  # quantile without latencyQuantile
    {"template": "latencyQuantile", "quantile": 100},
    {"template": "errorRate", "relativeToleranceBasisPoints": 10_000},
    {"template": "errorRate", "relativeToleranceBasisPoints": -1},
])
def test_spec_bounds(metric: dict[str, Any]) -> None:
    with pytest.raises((ValidationError, ValueError)):
        plan(**metric)


def vector(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [END.timestamp(), value]}


class Stub:
    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.answers = answers

    def custom_query(self, query: str, params: dict[str, Any] | None = None) -> Any:
        return self.answers.get(query, [])

    def custom_query_range(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not used")


def provider(answers: dict[str, list[dict[str, Any]]]) -> PrometheusProvider:
    return PrometheusProvider("http://prom:9090", connection=Stub(answers))


def test_provider_reads_one_value_per_unit_bucket() -> None:
    q = counts_query(plan(template="errorRate"))
    answer = provider({
        rendered(q.trials): [vector("100", unit_bucket="10"), vector("50.5", unit_bucket="2")],
        # no 5xx series in bucket 2: none there
        rendered(q.successes): [vector("3", unit_bucket="10")],
    }).counts(q, "stable", WINDOW)
    assert answer == Counts(3.0, 150.5, ((0.0, 50.5), (3.0, 100.0)))


def test_provider_refuses_unbounded_or_ambiguous_unit_buckets() -> None:
    q = counts_query(plan(template="errorRate"))
    trials = rendered(q.trials)
    many = [vector("1", unit_bucket=str(i)) for i in range(MAX_UNIT_BUCKETS + 1)]
    with pytest.raises(ProviderError, match="at most"):
        provider({trials: many}).counts(q, "stable", WINDOW)
    twice = [vector("1", unit_bucket="1"), vector("2", unit_bucket="1")]
    with pytest.raises(ProviderError, match="two series"):
        provider({trials: twice}).counts(q, "stable", WINDOW)


def test_provider_groups_histograms_by_unit_bucket() -> None:
    q = histogram_query(plan(template="latencyOver", thresholdMilliseconds=250))
    text = rendered(q.buckets)
    series = [vector("8", le="0.25", unit_bucket="0"), vector("10", le="+Inf", unit_bucket="0"),
              vector("20", le="0.25", unit_bucket="1"), vector("20", le="+Inf", unit_bucket="1")]
    answer = provider({text: series, rendered(q.total): [vector("4.5")]}).histogram(
        q, "stable", WINDOW)
    assert isinstance(answer, BucketCounts)
    assert answer.buckets == ((0.25, 28.0), (math.inf, 30.0))
    assert answer.per_unit == (((0.25, 8.0), (math.inf, 10.0)), ((0.25, 20.0), (math.inf, 20.0)))
