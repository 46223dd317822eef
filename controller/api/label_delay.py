"""A timed analysis step must last at least as long as the labels it waits for.

feedbackAccuracy is judged only once the step is labelDelaySeconds old, so a step whose
durationSeconds is shorter would end without ever being judged on labels. Refused at
admission (CEL, every step x every metric: the API server estimates the canary rule at about
24,000 at the list bounds, 50 steps x 20 metrics, 0.24% of its per-rule budget; measured as
bench/cel_cost.py probes) and by the operator on what it reads (an object written before the
rule existed), both naming the fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controller.api.strategy import AnalysisStep, Strategy


def _covered(duration: str) -> str:
    """CEL: every metric's label delay fits in `duration` (labelDelaySeconds is above 0 only
    on feedbackAccuracy, a rule of Metric)."""
    return (f"self.analysis.metrics.all(m, !has(m.labelDelaySeconds)"
            f" || m.labelDelaySeconds <= {duration})")


def _step_fits(step: str) -> str:
    return f"!has({step}) || !has({step}.durationSeconds) || {_covered(step + '.durationSeconds')}"


_MESSAGE = ("is shorter than a feedbackAccuracy metric's labelDelaySeconds "
            "(spec.analysis.metrics[*].labelDelaySeconds): the step would end before its "
            "labels are judged; make durationSeconds at least the label delay")

CANARY_RULE = (
    "!has(self.analysis) || !has(self.strategy.canary) || self.strategy.canary.steps.all(s,"
    f" ({_step_fits('s.analysis')})"
    f" && (!has(s.mirror) || {_step_fits('s.mirror.analysis')}))"
)
_PREVIEW = "self.strategy.blueGreen.prePromotionAnalysis"
BLUE_GREEN_RULE = (
    f"!has(self.analysis) || !has(self.strategy.blueGreen) || {_step_fits(_PREVIEW)}"
)

RULES: list[dict[str, Any]] = [
    {"rule": CANARY_RULE,
     "message": "an analysis step's (or a judged mirror step's analysis) durationSeconds "
                + _MESSAGE,
     "fieldPath": ".strategy.canary.steps"},
    {"rule": BLUE_GREEN_RULE,
     "message": "prePromotionAnalysis.durationSeconds " + _MESSAGE,
     "fieldPath": ".strategy.blueGreen.prePromotionAnalysis.durationSeconds"},
]


def _timed_steps(strategy: Strategy) -> list[tuple[str, AnalysisStep]]:
    steps: list[tuple[str, AnalysisStep]] = []
    if strategy.canary is not None:
        for i, step in enumerate(strategy.canary.steps):
            field = f"spec.strategy.canary.steps[{i}]"
            if step.analysis is not None:
                steps.append((f"{field}.analysis", step.analysis))
            if step.mirror is not None and step.mirror.analysis is not None:
                steps.append((f"{field}.mirror.analysis", step.mirror.analysis))
    if strategy.blue_green is not None and strategy.blue_green.pre_promotion_analysis:
        steps.append(("spec.strategy.blueGreen.prePromotionAnalysis",
                      strategy.blue_green.pre_promotion_analysis))
    return steps


def label_delay_refusal(strategy: Strategy, delays: Sequence[int]) -> str | None:
    """The first timed analysis step shorter than a metric's label delay (`delays`: each
    metric's labelDelaySeconds, in order), named with both fields; None if every one fits."""
    for field, step in _timed_steps(strategy):
        duration = step.duration_seconds
        if duration is None:
            continue
        for index, delay in enumerate(delays):
            if delay > duration:
                return (f"{field}.durationSeconds ({duration}) is shorter than "
                        f"spec.analysis.metrics[{index}].labelDelaySeconds ({delay}): the step "
                        "would end before its labels are judged; make durationSeconds at "
                        "least the label delay")
    return None
