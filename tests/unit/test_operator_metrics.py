"""The operator's metrics: one phase at a time, verdicts per look, outcomes once."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.api.status import AnalysisStatus, HistoryEntry, MetricResult, ModelRolloutStatus
from controller.operator.metrics import OperatorMetrics
from controller.rollout.model import AnalysisOutcome

pytestmark = pytest.mark.unit


def samples(metrics: OperatorMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every exposed sample by (name, labels): label order on the wire is not ours to fix."""
    text = metrics.render().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())

ROLLED_BACK = HistoryEntry(revision="abc", outcome="RolledBack", reason="AnalysisFailed",
                           finished_at="2026-11-29T12:00:00Z")


def test_phase_verdicts_and_outcomes() -> None:
    metrics = OperatorMetrics()
    before = ModelRolloutStatus(phase="Progressing")
    after = ModelRolloutStatus(phase="Degraded", history=[ROLLED_BACK])
    look = AnalysisOutcome("Fail", "worse", status=AnalysisStatus(
        verdict="Fail", updated_at="2026-11-29T12:00:00Z",
        metrics=[MetricResult(name="errors", verdict="Fail")]))
    metrics.observe("ml", "fraud", before, after, look)
    metrics.observe("ml", "fraud", after, after, None)  # a quiet reconcile counts nothing twice
    found = samples(metrics)
    fraud = {"namespace": "ml", "rollout": "fraud"}
    assert found["modelrollout_rollout_phase", labels(**fraud, phase="Degraded")] == 1
    assert found["modelrollout_rollout_phase", labels(**fraud, phase="Healthy")] == 0
    assert found["modelrollout_analysis_verdicts_total",
                 labels(**fraud, metric="errors", verdict="Fail")] == 1
    assert found["modelrollout_rollouts_total", labels(**fraud, outcome="RolledBack")] == 1


def test_outcomes_count_once_history_is_full() -> None:
    metrics = OperatorMetrics()
    full = [HistoryEntry(revision=f"r{i}", outcome="Promoted", reason="StepsCompleted",
                         finished_at=f"2026-11-29T12:00:{i:02}Z") for i in range(10)]
    after = ModelRolloutStatus(phase="Degraded", history=[*full[1:], ROLLED_BACK])
    metrics.observe("ml", "fraud", ModelRolloutStatus(history=full), after, None)
    assert samples(metrics)["modelrollout_rollouts_total", labels(
        namespace="ml", rollout="fraud", outcome="RolledBack")] == 1


def test_a_deleted_rollout_leaves_no_phase_series() -> None:
    metrics = OperatorMetrics()
    metrics.observe("ml", "gone", ModelRolloutStatus(), ModelRolloutStatus(phase="Healthy"),
                    None)
    metrics.reconcile_failed("ml", "gone")
    metrics.forget("ml", "gone")
    found = samples(metrics)
    assert not [key for key in found if key[0] == "modelrollout_rollout_phase"]
    assert found["modelrollout_reconcile_errors_total", labels(namespace="ml",
                                                               rollout="gone")] == 1
