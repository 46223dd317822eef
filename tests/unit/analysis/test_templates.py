"""Templates: the PromQL each built-in metric asks for, and the errors a spec can earn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.analysis.analyzer import DEFAULT_SCOPE, render_scope
from controller.analysis.labels import labelled
from controller.analysis.provider import (
    CountsQuery,
    HistogramQuery,
    SummaryQuery,
    Window,
    render_query,
)
from controller.analysis.templates import (
    ConfigError,
    MetricPlan,
    Shape,
    plan_metric,
    traffic_query,
)
from controller.analysis.types import Direction, Role
from controller.api.analysis import Metric
from controller.contract.table import CANDIDATE
from controller.rollout.ref import RolloutRef

pytestmark = pytest.mark.unit

SCOPE = 'namespace="ns"'
WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 2, 5, tzinfo=UTC))


def plan(**metric: Any) -> MetricPlan:
    return plan_metric(Metric.model_validate({"name": "m", **metric}), 3, scope=SCOPE,
                       step_seconds=15)


def counts(p: MetricPlan) -> CountsQuery:
    assert isinstance(p.query, CountsQuery)
    return p.query


def test_error_rate_counts_live_5xx_over_live_requests() -> None:
    p = plan(template="errorRate")
    q = counts(p)
    assert q.successes == ('sum(increase(modelrouter_requests_total{variant="{{variant}}",'
                           'code="5xx",namespace="ns"}[{{window}}]))')
    assert q.trials == ('sum(increase(modelrouter_requests_total{variant="{{variant}}",'
                        'namespace="ns"}[{{window}}]))')
    assert q.empty_successes_are_zero
    assert (p.shape, p.direction, p.role) == (Shape.RATE, Direction.LOWER_IS_BETTER,
                                              Role.GUARDRAIL)


def test_latency_over_reads_the_buckets_at_a_bucket_boundary() -> None:
    p = plan(template="latencyOver", thresholdMilliseconds=250)
    assert isinstance(p.query, HistogramQuery)
    assert p.query.buckets == (
        'sum by (le)(increase(modelrouter_request_duration_seconds_bucket{variant="{{variant}}",'
        'namespace="ns"}[{{window}}]))')
    assert p.query.total is not None
    assert p.threshold_seconds == 0.25
    assert p.shape is Shape.SLOW_SHARE


def test_latency_templates_read_buckets_and_the_sum() -> None:
    p = plan(template="latencyShift")
    assert isinstance(p.query, HistogramQuery)
    assert p.query.total == ('sum(increase(modelrouter_request_duration_seconds_sum{'
                             'variant="{{variant}}",namespace="ns"}[{{window}}]))')
    assert (p.shape, p.direction) == (Shape.LATENCY_SHIFT, Direction.LOWER_IS_BETTER)
    assert not p.relative


def test_shadow_agreement_asks_only_the_candidate() -> None:
    p = plan(template="shadowAgreement", toleranceBasisPoints=200)
    q = counts(p)
    assert q.successes == ('sum(increase(modelrouter_shadow_comparisons_total{'
                           'variant="{{variant}}",result="agree",namespace="ns"}[{{window}}]))')
    assert q.trials == ('sum(increase(modelrouter_shadow_comparisons_total{'
                        'variant="{{variant}}",result=~"agree|disagree",namespace="ns"}'
                        '[{{window}}]))')
    assert p.variants == (CANDIDATE,)
    assert (p.shape, p.direction) == (Shape.AGREEMENT, Direction.HIGHER_IS_BETTER)


def test_feedback_accuracy_is_correct_over_labelled() -> None:
    q = counts(plan(template="feedbackAccuracy"))
    assert 'modelrouter_feedback_total{variant="{{variant}}",result="correct"' in (
        q.successes or "")
    assert 'result=~"correct|incorrect"' in q.trials


@pytest.mark.parametrize(("text", "expected"), [
    ('my_errors_total{variant="{{variant}}"}',
     'sum(increase(my_errors_total{variant="{{variant}}"}[{{window}}]))'),
    ('sum(increase(x{v="{{variant}}"}[{{window}}]))',
     'sum(increase(x{v="{{variant}}"}[{{window}}]))'),
    ('sum(x{v="{{variant}}"})', 'sum(increase((sum(x{v="{{variant}}"}))[{{window}}:]))'),
])
def test_custom_ratio_queries_become_counts_over_the_window(text: str, expected: str) -> None:
    q = counts(plan(query={"numerator": text, "denominator": text},
                    direction="LowerIsBetter"))
    assert q.successes == expected
    assert not q.empty_successes_are_zero  # a typo must not read as zero errors


def test_custom_value_form_is_sampled_every_interval() -> None:
    p = plan(query={"value": 'avg(score{variant="{{variant}}"})'}, direction="HigherIsBetter")
    assert p.query == SummaryQuery("m", 'avg(score{variant="{{variant}}"})', 15)
    assert (p.shape, p.relative, p.counts_events) == (Shape.VALUE_MEAN, True, False)


def test_render_substitutes_variant_and_window() -> None:
    q = counts(plan(template="errorRate"))
    assert render_query(q.trials, "candidate", WINDOW) == (
        'sum(increase(modelrouter_requests_total{variant="candidate",namespace="ns"}[125s]))')


def test_traffic_query_is_live_requests() -> None:
    assert traffic_query("") == CountsQuery(
        "traffic", None, 'sum(increase(modelrouter_requests_total{variant="{{variant}}"}'
        '[{{window}}]))')


def test_default_scope_selects_one_rollouts_router_pods() -> None:
    rollout = RolloutRef("fraud", "models", "uid", 8080)
    assert render_scope(DEFAULT_SCOPE, rollout) == 'namespace="models",pod=~"fraud-router-.+"'
    assert render_scope('x=~"a{2}"', rollout) == 'x=~"a{2}"'


@pytest.mark.parametrize(("metric", "field", "text"), [
    ({"template": "latencyOver", "thresholdMilliseconds": 300},
     "spec.analysis.metrics[3].thresholdMilliseconds",
     "300 is not a bucket boundary of modelrouter_request_duration_seconds; use one of 1, "
     "2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000"),
    ({"template": "errorRate", "toleranceBasisPoints": 50, "minimumEffectBasisPoints": 50},
     "spec.analysis.metrics[3].minimumEffectBasisPoints", "must exceed toleranceBasisPoints"),
    ({"template": "latencyOver", "thresholdMilliseconds": 250, "direction": "HigherIsBetter"},
     "spec.analysis.metrics[3].direction", "LowerIsBetter"),
    ({"template": "latencyShift", "direction": "HigherIsBetter"},
     "spec.analysis.metrics[3].direction", "latencyShift measures slowness"),
    ({"template": "shadowAgreement", "direction": "LowerIsBetter"},
     "spec.analysis.metrics[3].direction", "HigherIsBetter"),
])
def test_specs_that_cannot_be_judged_name_the_field(metric: dict[str, Any], field: str,
                                                    text: str) -> None:
    with pytest.raises(ConfigError, match="metrics") as raised:
        plan(**metric)
    assert raised.value.field == field
    assert text in str(raised.value)


def test_window_is_whole_seconds_never_negative() -> None:
    start = WINDOW.start
    assert Window(start, start + timedelta(seconds=9.99)).duration == "9s"
    assert Window(start, start - timedelta(seconds=5)).seconds == 0


def test_feedback_accuracy_counts_the_labels_of_the_serving_window() -> None:
    metric = Metric.model_validate({"name": "accuracy", "template": "feedbackAccuracy",
                                    "labelDelaySeconds": 600})
    scope = 'namespace="ns"'
    [p] = labelled([plan_metric(metric, 0, scope=scope, step_seconds=60)], [metric], scope,
                   "r2/step-1")
    q = counts(p)
    assert 'served="r2/step-1"' in (q.successes or "")
    assert 'served="r2/step-1"' in q.trials
    assert p.label_delay_seconds == 600
    assert p.coverage is not None
    assert p.coverage.trials == ('sum(increase(modelrouter_predictions_served_total{'
                                 'variant="{{variant}}",served="r2/step-1",namespace="ns"}'
                                 '[{{window}}]))')
    errors = Metric.model_validate({"name": "e", "template": "errorRate"})
    [plain] = labelled([plan_metric(errors, 0, scope=scope, step_seconds=60)], [errors], scope,
                       "r2/step-1")
    assert plain.coverage is None


def test_paired_accuracy_of_a_mirrored_candidate_counts_its_window_too() -> None:
    metric = Metric.model_validate({"name": "accuracy", "template": "feedbackAccuracy"})
    scope = 'namespace="ns"'
    [p] = labelled([plan_metric(metric, 0, scope=scope, step_seconds=60, as_shadow=True)],
                   [metric], scope, "r2/step-0")
    assert p.discordant_query is not None
    for query in (counts(p), p.discordant_query):
        assert "modelrouter_shadow_paired_feedback_total" in query.trials
        assert 'served="r2/step-0"' in query.trials
        assert 'served="r2/step-0"' in (query.successes or "")
