"""Building blocks for analyzer tests: a spec, a status in an analysis step, an observation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from controller.analysis.analyzer import PrometheusAnalyzer
from controller.analysis.provider import Counts
from controller.api.spec import ModelRolloutSpec
from controller.api.status import AnalysisStatus, ModelRolloutStatus, Traffic
from controller.rollout.conditions import rfc3339
from controller.rollout.model import AnalysisOutcome, Observation
from controller.rollout.ref import RolloutRef
from tests.doubles import AnswerSource, FakeProvider

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROLLOUT = RolloutRef("fraud", "models", "uid-1", 8080)
ERRORS = {"name": "errors", "template": "errorRate"}


def spec(metrics: list[dict[str, Any]] | None = None, *, step: dict[str, Any] | None = None,
         mirror: bool = False, **analysis: Any) -> ModelRolloutSpec:
    """Step 1 is the analysis step; with `mirror`, a judged mirror step (the candidate as a
    shadow)."""
    judged: dict[str, Any] = {"analysis": step or {"minSamples": 2000}}
    if mirror:
        judged = {"mirror": {"percent": 100, **judged}}
    return ModelRolloutSpec.model_validate({
        "template": {"spec": {"containers": [{"name": "server", "image": "model:2"}]}},
        "port": 8080,
        "strategy": {"canary": {"steps": [{"setWeight": 20}, judged]}},
        "analysis": {"prometheus": {"address": "http://prometheus:9090"},
                     "intervalSeconds": 10, "metrics": metrics or [ERRORS], **analysis},
    })


def status(*, weights: tuple[int, int] = (80, 20), analysis: AnalysisStatus | None = None,
           started: datetime = T0) -> ModelRolloutStatus:
    return ModelRolloutStatus(
        stable_revision="r1", candidate_revision="r2", current_step_index=1,
        step_started_at=rfc3339(started), analysis=analysis,
        traffic=Traffic(stable_weight=weights[0], candidate_weight=weights[1]))


def observe(spec_: ModelRolloutSpec, status_: ModelRolloutStatus, seconds: float = 120
            ) -> Observation:
    return Observation(spec=spec_, status=status_, generation=1,
                       now=T0 + timedelta(seconds=seconds))


def error_answers(stable: tuple[float, float], candidate: tuple[float, float], *,
                  name: str = "errors") -> dict[tuple[str, str], AnswerSource]:
    """(errors, requests) per variant, and the same requests as the live traffic."""
    return {(name, "stable"): Counts(*stable), (name, "candidate"): Counts(*candidate),
            ("traffic", "stable"): Counts(0, stable[1]),
            ("traffic", "candidate"): Counts(0, candidate[1])}


def analyzer(fake: FakeProvider) -> PrometheusAnalyzer:
    return PrometheusAnalyzer(lambda _source: fake, scope="", min_window_seconds=30)


def look(fake: FakeProvider, spec_: ModelRolloutSpec, status_: ModelRolloutStatus,
         seconds: float = 120) -> AnalysisOutcome:
    return analyzer(fake).evaluate(ROLLOUT, observe(spec_, status_, seconds))


def then(status_: ModelRolloutStatus, outcome: AnalysisOutcome) -> ModelRolloutStatus:
    """The status the machine writes after this look (it stores outcome.status)."""
    return status_.model_copy(update={"analysis": outcome.status})
