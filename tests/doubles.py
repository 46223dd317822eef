"""Test doubles for the operator's seams: a router that records, an analyzer that passes, and a
metric provider that answers from a table. Production code never imports this module."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from controller.analysis.provider import (
    BucketCounts,
    Counts,
    CountsQuery,
    Empty,
    HistogramQuery,
    ProviderError,
    Summary,
    SummaryQuery,
    Window,
)
from controller.rollout.model import AnalysisOutcome, Observation
from controller.rollout.ref import RolloutRef
from controller.rollout.served import Verification
from controller.rollout.split import TrafficSplit


class RecordingRouter:
    """A TrafficRouter that remembers what it was told, with the history of changes."""

    def __init__(self) -> None:
        self.current: dict[tuple[str, str], TrafficSplit] = {}
        self.history: list[tuple[str, TrafficSplit | None]] = []

    def apply(self, rollout: RolloutRef, split: TrafficSplit) -> None:
        key = (rollout.namespace, rollout.name)
        if self.current.get(key) != split:
            self.current[key] = split
            self.history.append((rollout.name, split))

    def holds(self, rollout: RolloutRef, split: TrafficSplit) -> bool:
        return self.current.get((rollout.namespace, rollout.name)) == split

    def verify(self, rollout: RolloutRef, split: TrafficSplit) -> Verification | None:
        return None

    def remove(self, rollout: RolloutRef) -> None:
        if self.current.pop((rollout.namespace, rollout.name), None) is not None:
            self.history.append((rollout.name, None))


class PassingAnalyzer:
    """An Analyzer that passes every look."""

    def evaluate(self, rollout: RolloutRef, observation: Observation) -> AnalysisOutcome:
        return AnalysisOutcome("Pass", "no analyzer configured: the step passes through")


FakeAnswer = Counts | BucketCounts | Summary | Empty | ProviderError
AnswerSource = FakeAnswer | Callable[[Window], FakeAnswer]


@dataclass
class FakeProvider:
    """Answers by (metric name, variant); an answer may be a callable of the window.
    A ProviderError answer is raised. Unknown keys are Empty. Records every call."""

    answers: Mapping[tuple[str, str], AnswerSource] = field(default_factory=dict)
    calls: list[tuple[str, str, Window]] = field(default_factory=list)

    def _answer(self, metric: str, variant: str, window: Window) -> FakeAnswer:
        self.calls.append((metric, variant, window))
        source = self.answers.get((metric, variant), Empty(f"{metric}/{variant}"))
        answer = source(window) if callable(source) else source
        if isinstance(answer, ProviderError):
            raise answer
        return answer

    def counts(self, query: CountsQuery, variant: str, window: Window) -> Counts | Empty:
        answer = self._answer(query.metric, variant, window)
        assert isinstance(answer, Counts | Empty), f"{query.metric}: not counts: {answer}"
        return answer

    def histogram(self, query: HistogramQuery, variant: str, window: Window
                  ) -> BucketCounts | Empty:
        answer = self._answer(query.metric, variant, window)
        assert isinstance(answer, BucketCounts | Empty), f"{query.metric}: not buckets: {answer}"
        return answer

    def summary(self, query: SummaryQuery, variant: str, window: Window) -> Summary | Empty:
        answer = self._answer(query.metric, variant, window)
        assert isinstance(answer, Summary | Empty), f"{query.metric}: not a summary: {answer}"
        return answer
