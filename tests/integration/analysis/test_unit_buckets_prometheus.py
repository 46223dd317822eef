"""Sticky users end to end against a real Prometheus: the router's unit-bucketed series are
scraped, queried with sum by (unit_bucket) and judged with the variance across buckets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from controller.analysis.analyzer import PrometheusAnalyzer
from controller.analysis.labels import labelled
from controller.analysis.provider import BucketCounts, Counts, CountsQuery, HistogramQuery, Window
from controller.analysis.templates import plan_metric
from controller.api.analysis import Metric
from controller.api.spec import ModelRolloutSpec
from controller.api.status import ModelRolloutStatus, Traffic
from controller.contract.metrics import LATENCY_BUCKETS, UNIT_BUCKET_LABEL
from controller.contract.table import serving_window
from controller.providers.prometheus import PrometheusProvider, prometheus_provider
from controller.rollout.conditions import rfc3339
from controller.rollout.model import Observation
from controller.rollout.ref import RolloutRef
from tests.cluster.metrics_endpoint import MetricsEndpoint
from tests.cluster.prometheus import Prometheus
from tests.helpers import eventually
from tests.integration.analysis.series import RouterSeries

pytestmark = pytest.mark.integration

ROLLOUT = RolloutRef("fraud", "models", "uid", 8080)
# (ok, failed) per unit bucket: users unlike each other, so buckets differ a lot.
REQUESTS = {"stable": ((2000, 10), (1500, 60), (2500, 5), (1800, 40)),
            "candidate": ((500, 3), (450, 20), (600, 2), (480, 12))}
SLOW_SHARE = {"stable": (0.05, 0.2, 0.02, 0.1), "candidate": (0.06, 0.25, 0.02, 0.12)}
# (correct, incorrect) labels per unit bucket, of predictions served in step 1 of r2.
LABELS = {"stable": ((900, 100), (600, 300), (1200, 50), (700, 200)),
          "candidate": ((230, 20), (150, 80), (300, 10), (180, 50))}
SERVED = serving_window("r2", 1)
METRICS = [{"name": "errors", "template": "errorRate"},
           {"name": "slow", "template": "latencyOver", "thresholdMilliseconds": 250},
           {"name": "p99", "template": "latencyQuantile", "quantile": 99,
            "relativeToleranceBasisPoints": 2000},
           {"name": "accuracy", "template": "feedbackAccuracy"}]


class UnitSeries(RouterSeries):
    """The router's live series, split by unit bucket as the router exports them."""

    def unit_requests(self, variant: str, per_bucket: tuple[tuple[float, float], ...],
                      scale: float) -> None:
        for bucket, (ok, failed) in enumerate(per_bucket):
            for code, value in (("2xx", ok), ("5xx", failed)):
                self._set("modelrouter_requests_total", value * scale, variant=variant,
                          code=code, **{UNIT_BUCKET_LABEL: str(bucket)})

    def unit_latency(self, variant: str, per_bucket: tuple[tuple[float, float], ...],
                     slow: tuple[float, ...], scale: float) -> None:
        for bucket, ((ok, failed), share) in enumerate(zip(per_bucket, slow, strict=True)):
            total = (ok + failed) * scale
            fast = round(total * (1 - share))
            shape: Mapping[float, float] = {0.1: fast, 0.5: total - fast - round(total * 0.01),
                                            1.0: round(total * 0.01)}
            running = 0.0
            for bound in (*LATENCY_BUCKETS, math.inf):
                running += shape.get(bound, 0.0)
                self._set("modelrouter_request_duration_seconds_bucket", running,
                          variant=variant, le="+Inf" if math.isinf(bound) else f"{bound:g}",
                          **{UNIT_BUCKET_LABEL: str(bucket)})
            self._set("modelrouter_request_duration_seconds_sum", total * 0.1, variant=variant,
                      **{UNIT_BUCKET_LABEL: str(bucket)})

    def unit_feedback(self, variant: str, per_bucket: tuple[tuple[float, float], ...],
                      scale: float) -> None:
        for bucket, (correct, incorrect) in enumerate(per_bucket):
            for result, value in (("correct", correct), ("incorrect", incorrect)):
                self._set("modelrouter_feedback_total", value * scale, variant=variant,
                          result=result, served=SERVED, **{UNIT_BUCKET_LABEL: str(bucket)})

    def set_all(self, scale: float) -> None:
        for variant, per_bucket in REQUESTS.items():
            self.unit_requests(variant, per_bucket, scale)
            self.unit_latency(variant, per_bucket, SLOW_SHARE[variant], scale)
            self.unit_feedback(variant, LABELS[variant], scale)


def _scraped(prometheus: Prometheus, series: UnitSeries, after: float, total: float) -> None:
    """Prometheus holds a scrape newer than `after` whose stable 2xx sum is `total`."""
    selector = f'modelrouter_requests_total{{variant="stable",code="2xx",{series.scope}}}'

    def done() -> bool:
        stamp = prometheus.query(f"max(timestamp({selector}))")
        value = prometheus.query(f"sum({selector})")
        return bool(stamp and value and float(stamp[0]["value"][1]) > after  # type: ignore[index]
                    and float(value[0]["value"][1]) == total)  # type: ignore[index]

    eventually(done, f"a scrape of run {series.run} after {after}", timeout=30)


@pytest.fixture(scope="module")
def window(prometheus: Prometheus, metrics_endpoint: MetricsEndpoint) -> tuple[UnitSeries, Window]:
    series = UnitSeries(metrics_endpoint)
    series.set_all(0.0)
    _scraped(prometheus, series, 0.0, 0.0)
    start = datetime.now(UTC)
    _scraped(prometheus, series, start.timestamp() + 2.0, 0.0)
    series.set_all(1.0)
    _scraped(prometheus, series, start.timestamp(), sum(ok for ok, _ in REQUESTS["stable"]))
    return series, Window(start, datetime.now(UTC))


def test_error_counts_per_unit_bucket(window: tuple[UnitSeries, Window],
                                      prometheus: Prometheus) -> None:
    series, span = window
    plan = plan_metric(Metric.model_validate(METRICS[0]), 0, scope=series.scope,
                       step_seconds=1, unit_level=True)
    assert isinstance(plan.query, CountsQuery)
    provider = PrometheusProvider(prometheus.url, 5)
    for variant, per_bucket in REQUESTS.items():
        answer = provider.counts(plan.query, variant, span)
        assert isinstance(answer, Counts), answer
        assert answer.per_unit is not None
        assert len(answer.per_unit) == len(per_bucket)
        factor = answer.trials / sum(ok + failed for ok, failed in per_bucket)
        assert 0.99 <= factor <= 1.6  # increase() extrapolates towards the window's end
        for (errors, trials), (ok, failed) in zip(answer.per_unit, per_bucket, strict=True):
            assert trials == pytest.approx((ok + failed) * factor, rel=1e-6)
            assert errors == pytest.approx(failed * factor, rel=1e-6)


def test_latency_buckets_per_unit_bucket(window: tuple[UnitSeries, Window],
                                         prometheus: Prometheus) -> None:
    series, span = window
    plan = plan_metric(Metric.model_validate(METRICS[1]), 1, scope=series.scope,
                       step_seconds=1, unit_level=True)
    assert isinstance(plan.query, HistogramQuery)
    answer = PrometheusProvider(prometheus.url, 5).histogram(plan.query, "candidate", span)
    assert isinstance(answer, BucketCounts), answer
    assert answer.per_unit is not None
    assert len(answer.per_unit) == 4
    assert answer.count == pytest.approx(sum(b[-1][1] for b in answer.per_unit), rel=1e-9)


def test_labels_count_per_unit_bucket_of_the_step(window: tuple[UnitSeries, Window],
                                                 prometheus: Prometheus) -> None:
    series, span = window
    metric = Metric.model_validate(METRICS[3])
    [plan] = labelled([plan_metric(metric, 3, scope=series.scope, step_seconds=1,
                                   unit_level=True)], [metric], series.scope, SERVED)
    assert isinstance(plan.query, CountsQuery)
    provider = PrometheusProvider(prometheus.url, 5)
    for variant, per_bucket in LABELS.items():
        answer = provider.counts(plan.query, variant, span)
        assert isinstance(answer, Counts), answer
        assert answer.per_unit is not None
        assert len(answer.per_unit) == len(per_bucket)
        factor = answer.trials / sum(c + i for c, i in per_bucket)
        for (correct, labels), (c, i) in zip(answer.per_unit, per_bucket, strict=True):
            assert labels == pytest.approx((c + i) * factor, rel=1e-6)
            assert correct == pytest.approx(c * factor, rel=1e-6)


def test_sticky_rollout_is_judged_across_unit_buckets(window: tuple[UnitSeries, Window],
                                                      prometheus: Prometheus) -> None:
    series, span = window
    spec = ModelRolloutSpec.model_validate({
        "template": {"spec": {"containers": [{"name": "server", "image": "model:2"}]}},
        "port": 8080,
        "trafficRouting": {"builtin": {"unit": {"header": "x-user"},
                                       "prediction": {"path": "predictions[0].label"}}},
        "strategy": {"canary": {"steps": [{"setWeight": 20},
                                          {"analysis": {"minSamples": 2000}}]}},
        "analysis": {"prometheus": {"address": prometheus.url, "timeoutSeconds": 2},
                     "metrics": METRICS}})
    status = ModelRolloutStatus(
        stable_revision="r1", candidate_revision="r2", current_step_index=1,
        step_started_at=rfc3339(span.start), traffic=Traffic(stable_weight=80,
                                                             candidate_weight=20))
    analyzer = PrometheusAnalyzer(prometheus_provider, scope=series.scope, min_window_seconds=2)
    outcome = analyzer.evaluate(ROLLOUT, Observation(spec=spec, status=status, generation=1,
                                                     now=span.end))
    assert outcome.status is not None
    by_name = {m.name: m for m in outcome.status.metrics}
    for name in ("errors", "slow", "accuracy"):
        assert "across 4 unit buckets" in by_name[name].test, by_name[name]
        assert by_name[name].lift is not None
        assert by_name[name].lift_lower is not None
    assert "unit buckets" not in by_name["p99"].test  # a quantile stays request-level
    assert by_name["p99"].test.startswith("p99 ratio of two quantiles")
    assert by_name["p99"].lift is not None
