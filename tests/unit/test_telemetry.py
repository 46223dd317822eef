"""The operator's metrics: one phase at a time, verdicts per look, outcomes once."""

from __future__ import annotations

import pytest

from controller.api.status import AnalysisStatus, HistoryEntry, MetricResult, ModelRolloutStatus
from controller.rollout.model import AnalysisOutcome
from controller.telemetry import OperatorMetrics

pytestmark = pytest.mark.unit

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
    text = metrics.render().decode()
    assert 'modelrollout_rollout_phase{namespace="ml",rollout="fraud",phase="Degraded"} 1' in text
    assert 'modelrollout_rollout_phase{namespace="ml",rollout="fraud",phase="Healthy"} 0' in text
    assert ('modelrollout_analysis_verdicts_total{namespace="ml",rollout="fraud",'
            'metric="errors",verdict="Fail"} 1') in text
    assert ('modelrollout_rollouts_total{namespace="ml",rollout="fraud",outcome="RolledBack"} 1'
            in text)


def test_a_deleted_rollout_leaves_no_phase_series() -> None:
    metrics = OperatorMetrics()
    metrics.observe("ml", "gone", ModelRolloutStatus(), ModelRolloutStatus(phase="Healthy"),
                    None)
    metrics.reconcile_failed("ml", "gone")
    metrics.forget("ml", "gone")
    text = metrics.render().decode()
    assert "modelrollout_rollout_phase{" not in text
    assert 'modelrollout_reconcile_errors_total{namespace="ml",rollout="gone"} 1' in text
