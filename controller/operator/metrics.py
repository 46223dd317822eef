"""The operator's own metrics (prometheus-client): what phase each rollout is in, the analysis
verdicts, outcomes and failed reconciles — the series the chart's alerts and dashboard read.

Updated from reconcile threads, rendered by the metrics endpoint.
"""

from __future__ import annotations

import contextlib
from typing import get_args

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge

from controller.api.status import ModelRolloutStatus, Phase
from controller.rollout.model import AnalysisOutcome

PHASES: tuple[str, ...] = get_args(Phase)


class OperatorMetrics:
    def __init__(self) -> None:
        # Counters here are per rollout: a `_created` series beside each doubles the series
        # for nothing the alerts read.
        prometheus_client.disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        self.phase = Gauge(
            "modelrollout_rollout_phase", "1 for the phase each rollout is in, 0 for the others.",
            ("namespace", "rollout", "phase"), registry=self.registry)
        self.verdicts = Counter(
            "modelrollout_analysis_verdicts_total", "Analysis looks, by metric and verdict.",
            ("namespace", "rollout", "metric", "verdict"), registry=self.registry)
        self.outcomes = Counter(
            "modelrollout_rollouts_total", "Finished rollouts by outcome.",
            ("namespace", "rollout", "outcome"), registry=self.registry)
        self.errors = Counter(
            "modelrollout_reconcile_errors_total", "Reconciles that failed and were retried.",
            ("namespace", "rollout"), registry=self.registry)

    def observe(self, namespace: str, name: str, before: ModelRolloutStatus,
                after: ModelRolloutStatus, analysis: AnalysisOutcome | None) -> None:
        for phase in PHASES:
            self.phase.labels(namespace, name, phase).set(float(after.phase == phase))
        if analysis is not None and analysis.status is not None:
            for metric in analysis.status.metrics:
                self.verdicts.labels(namespace, name, metric.name, metric.verdict).inc()
        # New entries, not a longer list: once history is full its length stays the same.
        for entry in (e for e in after.history if e not in before.history):
            self.outcomes.labels(namespace, name, entry.outcome).inc()

    def reconcile_failed(self, namespace: str, name: str) -> None:
        self.errors.labels(namespace, name).inc()

    def forget(self, namespace: str, name: str) -> None:
        """A deleted rollout has no phase: drop its gauge so alerts do not fire on a ghost."""
        for phase in PHASES:
            with contextlib.suppress(KeyError):  # never set for this rollout
                self.phase.remove(namespace, name, phase)

    def render(self) -> bytes:
        return prometheus_client.generate_latest(self.registry)
