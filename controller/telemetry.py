"""The operator's own metrics: what phase each rollout is in, the analysis verdicts, outcomes and
failed reconciles — the series the chart's alerts and dashboard read.

Updated from reconcile threads, rendered by the metrics endpoint; one lock keeps both honest.
"""

from __future__ import annotations

import threading
from typing import get_args

from controller.api.status import ModelRolloutStatus, Phase
from controller.rollout.model import AnalysisOutcome
from controller.router.metrics import Counter, Gauge, Registry

PHASES: tuple[str, ...] = get_args(Phase)


class OperatorMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.registry = Registry()
        self.phase = self.registry.add(Gauge(
            "modelrollout_rollout_phase", "1 for the phase each rollout is in, 0 for the others.",
            ("namespace", "rollout", "phase")))
        self.verdicts = self.registry.add(Counter(
            "modelrollout_analysis_verdicts_total", "Analysis looks, by metric and verdict.",
            ("namespace", "rollout", "metric", "verdict")))
        self.outcomes = self.registry.add(Counter(
            "modelrollout_rollouts_total", "Finished rollouts by outcome.",
            ("namespace", "rollout", "outcome")))
        self.errors = self.registry.add(Counter(
            "modelrollout_reconcile_errors_total", "Reconciles that failed and were retried.",
            ("namespace", "rollout")))

    def observe(self, namespace: str, name: str, before: ModelRolloutStatus,
                after: ModelRolloutStatus, analysis: AnalysisOutcome | None) -> None:
        with self._lock:
            for phase in PHASES:
                self.phase.set((namespace, name, phase), float(after.phase == phase))
            if analysis is not None and analysis.status is not None:
                for metric in analysis.status.metrics:
                    self.verdicts.inc((namespace, name, metric.name, metric.verdict))
            finished = after.history[len(before.history):] if len(after.history) > len(
                before.history) else []
            for entry in finished:
                self.outcomes.inc((namespace, name, entry.outcome))

    def reconcile_failed(self, namespace: str, name: str) -> None:
        with self._lock:
            self.errors.inc((namespace, name))

    def forget(self, namespace: str, name: str) -> None:
        """A deleted rollout has no phase: drop its gauge so alerts do not fire on a ghost."""
        with self._lock:
            for phase in PHASES:
                self.phase.values.pop((namespace, name, phase), None)

    def render(self) -> bytes:
        with self._lock:
            return self.registry.render()
