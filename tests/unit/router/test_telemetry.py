"""Metrics rendering and the off-path telemetry flush (pure)."""

from __future__ import annotations

import json

import pytest

from controller.contract.metrics import LATENCY_BUCKETS
from controller.contract.table import parse_table
from controller.router.metrics import Counter, Histogram, Registry
from controller.router.telemetry import (
    MAX_LABELS_PER_VARIANT,
    RouterMetrics,
    Telemetry,
)

pytestmark = pytest.mark.unit


def test_exposition_format() -> None:
    registry = Registry()
    c = registry.add(Counter("x_total", "Things.", ("variant",)))
    h = registry.add(Histogram("lat_seconds", "Latency.", ("variant",), (0.1, 1.0)))
    c.inc(('we"ird\n',), 2)
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(("a",), v)
    text = registry.render().decode()
    assert '# TYPE x_total counter' in text
    assert 'x_total{variant="we\\"ird\\n"} 2' in text
    assert 'lat_seconds_bucket{variant="a",le="0.1"} 2' in text  # le is inclusive
    assert 'lat_seconds_bucket{variant="a",le="1"} 3' in text
    assert 'lat_seconds_bucket{variant="a",le="+Inf"} 4' in text
    assert 'lat_seconds_count{variant="a"} 4' in text
    assert 'lat_seconds_sum{variant="a"} 3.65' in text


def test_latency_buckets_suit_model_serving() -> None:
    assert LATENCY_BUCKETS[0] == 0.001
    assert LATENCY_BUCKETS[-1] == 10.0
    assert 0.25 in LATENCY_BUCKETS
    assert 0.5 in LATENCY_BUCKETS


def make(rule_mode: str = "exact") -> Telemetry:
    table = parse_table({
        "version": 4, "salt": "s",
        "stable": {"backends": ["127.0.0.1:1"],
                   "prediction": {"path": "p", "mode": rule_mode}},
        "shadows": [{"name": "shadow-a", "backends": ["127.0.0.1:2"],
                     "prediction": {"path": "p", "mode": rule_mode}}],
    })
    telemetry = Telemetry(RouterMetrics())
    telemetry.use_table(table)
    return telemetry


def out(value: object) -> bytes:
    return json.dumps({"p": value}).encode()


def test_flush_counts_requests_errors_predictions() -> None:
    t = make()
    t.live += [
        ("stable", 200, 0.01, "", out("cat"), "id1", 0.0, "0"),
        ("stable", 503, 0.02, "", b"{}", "id2", 0.0, "1"),
        ("stable", 502, 0.03, "connect", b"{}", "id3", 0.0, "1"),
    ]
    t.flush()
    m = t.metrics
    assert m.requests.get(("stable", "2xx", "0")) == 1
    assert m.requests.get(("stable", "5xx", "1")) == 2
    assert m.errors.get(("stable", "5xx")) == 1
    assert m.errors.get(("stable", "connect")) == 1
    assert m.predictions.get(("stable", "cat")) == 1
    assert m.duration.count(("stable", "0")) + m.duration.count(("stable", "1")) == 3
    assert m.table_version.get(()) == 4


def test_shadow_comparisons() -> None:
    t = make()
    t.shadow += [
        ("shadow-a", 200, 0.01, "", out("cat"), out("cat"), "i1"),
        ("shadow-a", 200, 0.01, "", out("dog"), out("cat"), "i2"),
        ("shadow-a", 500, 0.01, "", b"{}", out("cat"), "i3"),
        ("shadow-a", 0, 0.01, "timeout", b"", out("cat"), "i4"),
        ("shadow-a", 200, 0.01, "", out("cat"), None, "i5"),  # primary failed: no verdict
    ]
    t.flush()
    c = t.metrics.comparisons
    assert (c.get(("shadow-a", "agree")), c.get(("shadow-a", "disagree")),
            c.get(("shadow-a", "error"))) == (1, 1, 2)
    assert t.metrics.errors.get(("shadow-a", "timeout")) == 1
    # The timeout is a shadow copy that failed: in the shadow's error rate, as a 5xx.
    shadow = t.metrics.shadow_requests
    assert (shadow.get(("shadow-a", "2xx")), shadow.get(("shadow-a", "5xx"))) == (3, 2)
    assert t.metrics.shadow_duration.count(("shadow-a",)) == 5


def test_label_cardinality_is_bounded() -> None:
    t = make()
    t.live += [("stable", 200, 0.01, "", out(f"l{i}"), f"i{i}", 0.0, "0")
               for i in range(MAX_LABELS_PER_VARIANT + 10)]
    t.flush()
    labels = {k[1] for k in t.metrics.predictions.values}
    assert len(labels) == MAX_LABELS_PER_VARIANT + 1
    assert t.metrics.predictions.get(("stable", "__other__")) == 10


def test_numeric_predictions_feed_the_score_histogram() -> None:
    t = make("numeric")
    t.live += [("stable", 200, 0.01, "", out(0.3), "i", 0.0, "0")]
    t.flush()
    assert t.metrics.scores.count(("stable",)) == 1
    assert not t.metrics.predictions.values


def test_table_info_gauges() -> None:
    t = make()
    text = t.metrics.registry.render().decode()
    assert 'modelrouter_variant_info{variant="shadow-a",role="shadow",model=""} 1' in text
    assert 'modelrouter_variant_weight_basis_points{variant="stable"} 10000' in text
