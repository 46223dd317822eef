"""Fault injection through the proxy: error rate, added delay, corrupted predictions."""

from __future__ import annotations

import json

import pytest
from scipy.stats import binomtest

from tests.integration.router.backends import label_backend
from tests.integration.router.harness import Harness, table

pytestmark = pytest.mark.integration


def test_error_rate_matches_fraction(harness: Harness) -> None:
    a = harness.backend(label_backend("cat"))
    doc = table(1, a.address)
    doc["stable"]["faults"] = {"fractionBp": 2000, "errorStatus": 503}
    harness.put_table(doc)
    n = 800
    codes = [harness.request()[0] for _ in range(n)]
    failed = codes.count(503)
    assert failed + codes.count(200) == n
    assert binomtest(failed, n, 0.2).pvalue > 0.001
    assert harness.metric("modelrouter_faults_injected_total", variant="stable",
                          kind="error") == failed
    assert harness.metric("modelrouter_errors_total", variant="stable", reason="5xx") == failed
    # injected errors never reached the backend
    assert len(a.requests) == n - failed


def test_added_delay_makes_the_variant_slower_than_its_peer(harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    doc = table(1, a.address, b.address, weight_bp=5000)
    doc["candidate"]["faults"] = {"fractionBp": 10_000, "addedLatencyMs": 50}
    harness.put_table(doc)
    for i in range(40):
        assert harness.request(headers={"x-user-id": f"u{i}"})[0] == 200

    def mean(variant: str) -> float:
        total = harness.metric("modelrouter_request_duration_seconds_sum", variant=variant)
        count = harness.metric("modelrouter_request_duration_seconds_count", variant=variant)
        return total / count

    assert mean("candidate") > mean("stable")
    delayed = harness.metric("modelrouter_faults_injected_total", variant="candidate",
                             kind="delay")
    assert delayed == harness.metric("modelrouter_requests_total", variant="candidate")


def test_corrupted_prediction(harness: Harness) -> None:
    a = harness.backend(label_backend("cat"))
    doc = table(1, a.address)
    doc["stable"]["faults"] = {"fractionBp": 10_000, "corruptPrediction": True}
    harness.put_table(doc)
    status, _, body = harness.request()
    assert status == 200
    assert json.loads(body)["predictions"][0]["label"] == "__corrupted__"
    assert harness.metric("modelrouter_predictions_total", variant="stable",
                          label="__corrupted__") == 1


def test_a_segment_scoped_fault_hits_only_that_segment(harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    doc = table(1, a.address, b.address, weight_bp=10_000)
    doc["overrides"]["segments"] = [{"name": "beta", "variant": "candidate",
                                     "units": ["u1", "u2"]}]
    doc["candidate"]["faults"] = {"fractionBp": 10_000, "errorStatus": 503, "segment": "beta"}
    harness.put_table(doc)
    codes = {unit: harness.request(headers={"x-user-id": unit})[0]
             for unit in ("u1", "u2", "u3", "u4")}
    assert codes == {"u1": 503, "u2": 503, "u3": 200, "u4": 200}
    assert harness.metric("modelrouter_faults_injected_total", variant="candidate",
                          kind="error") == 2


def test_a_header_scoped_fault_hits_only_that_header_value(harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    doc = table(1, a.address, b.address, weight_bp=10_000)
    doc["candidate"]["faults"] = {"fractionBp": 10_000, "errorStatus": 503,
                                  "header": {"name": "X-Cohort", "value": "eu"}}
    harness.put_table(doc)
    assert harness.request(headers={"x-user-id": "u1", "X-Cohort": "eu"})[0] == 503
    assert harness.request(headers={"x-user-id": "u1", "X-Cohort": "us"})[0] == 200
    assert harness.request(headers={"x-user-id": "u1"})[0] == 200
