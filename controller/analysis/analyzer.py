"""The analysis seam: the rollout engine asks an Analyzer for a verdict at each look."""

from __future__ import annotations

from typing import Protocol

from controller.rollout.model import AnalysisOutcome, Observation
from controller.traffic.base import RolloutRef


class Analyzer(Protocol):
    def evaluate(self, rollout: RolloutRef, observation: Observation) -> AnalysisOutcome:
        """Judge the candidate against stable over the current step's window."""


class NoopAnalyzer:
    """Passes every look: the default until a metric provider is configured, and a test double."""

    def evaluate(self, rollout: RolloutRef, observation: Observation) -> AnalysisOutcome:
        return AnalysisOutcome("Pass", "no analyzer configured: the step passes through")
