"""Per-metric reasons a person can act on, in the metric's own units (pure)."""

from __future__ import annotations

import math

from controller.analysis.histogram import share_slower_than
from controller.analysis.observations import mean_of
from controller.analysis.templates import MetricPlan, Shape
from controller.analysis.types import (
    HistogramObservation,
    MetricConfig,
    MetricJudgement,
    MetricObservations,
    MetricVerdict,
    Role,
    VariantObservation,
)

MAX_REASON = 1000


def clip(text: str, limit: int = MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _g(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


def is_share(plan: MetricPlan) -> bool:
    return plan.shape is not Shape.VALUE_MEAN


def _scaled(plan: MetricPlan, x: float) -> tuple[float, str, int]:
    """(value in display units, unit of a difference, significant digits)."""
    if is_share(plan):
        return 100 * x, " pts", 3
    return x, "", 4


def amount(plan: MetricPlan, x: float) -> str:
    """A level: 2.1%, 0.804."""
    value, unit, digits = _scaled(plan, x)
    return _g(value, digits) + ("%" if is_share(plan) else unit)


def change(plan: MetricPlan, x: float, *, signed: bool = True) -> str:
    """A difference: +1.1 pts, -0.02."""
    value, unit, digits = _scaled(plan, x)
    return ("+" if signed and value > 0 else "") + _g(value, digits) + unit


def _level(plan: MetricPlan, observation: VariantObservation | None) -> float | None:
    if plan.shape is Shape.SLOW_SHARE and isinstance(observation, HistogramObservation):
        assert plan.threshold_seconds is not None
        slow, total = share_slower_than(observation.buckets, plan.threshold_seconds)
        return slow / total if total > 0 else None
    return mean_of(observation)


def _levels(plan: MetricPlan, observations: MetricObservations) -> str:
    cand = _level(plan, observations.candidate)
    if plan.shape is Shape.AGREEMENT:
        return f"candidate agrees {amount(plan, cand or 0.0)} (reference: 100%)"
    if plan.shape is Shape.LATENCY_SHIFT:
        return (f"candidate slower than stable in {amount(plan, cand or 0.5)} of request "
                "pairs (no shift: 50%)")
    base = _level(plan, observations.baseline)
    text = (f"candidate {amount(plan, cand)} vs stable {amount(plan, base)}"
            if cand is not None and base is not None else "")
    if plan.shape is Shape.SLOW_SHARE:
        text += f" slower than {_g(1000 * (plan.threshold_seconds or 0.0), 4)} ms"
    return text


def _effect(plan: MetricPlan, config: MetricConfig, result: MetricJudgement) -> str:
    assert result.estimate is not None
    text = change(plan, result.estimate)
    if result.ci_low is not None and result.ci_high is not None:
        level = _g(100 * (1 - 2 * config.alpha))
        low, unit, digits = _scaled(plan, result.ci_low)
        high = _scaled(plan, result.ci_high)[0]
        text += f", {level}% CI {_g(low, digits)}..{_g(high, digits)}{unit}"
    return text


def _p(config: MetricConfig, result: MetricJudgement) -> str:
    p = result.p_value if result.p_value is not None else 1.0
    text = f"p={_g(p, 2)}"
    adjusted = result.adjusted_p_value
    if result.role is Role.GUARDRAIL and adjusted is not None and not math.isclose(adjusted, p):
        text += f" (Holm {_g(adjusted, 2)})"
    return text


def tolerance_text(plan: MetricPlan, config: MetricConfig) -> str:
    if plan.relative:
        return f"{_g(plan.tolerance_bp / 100)}% of stable ({change(plan, config.tolerance)})"
    return change(plan, config.tolerance, signed=False)


def _judgement(plan: MetricPlan, config: MetricConfig, result: MetricJudgement) -> str:
    alpha, tol = _g(config.alpha), tolerance_text(plan, config)
    n_b, needed = result.n_candidate, result.samples_needed
    if result.verdict is MetricVerdict.FAIL:
        return f"≤ {alpha} — worse beyond tolerance {tol}; roll back"
    if result.role is Role.SUCCESS:
        # Tolerance 0 is a superiority test: the candidate must be shown better than stable.
        superiority = config.tolerance == 0
        if result.verdict is MetricVerdict.PASS:
            return f"≤ {alpha} — " + ("better than stable" if superiority
                                      else f"non-inferior within {tol}")
        if needed > 0:
            test = "superiority" if superiority else f"non-inferiority within {tol}"
            return (f"— {test} not shown yet; {_g(n_b, 6)} candidate "
                    f"samples, needs {_g(needed, 6)} more")
        if config.tolerance == 0:
            return (f"— not shown better than stable over {_g(n_b, 6)} candidate samples "
                    "(tolerance 0 asks for superiority, which an equal candidate never shows)")
        return (f"— not shown non-inferior within {tol} although the sample suffices: "
                "probably worse than the margin allows")
    if result.verdict is MetricVerdict.PASS:
        return f"— no harm beyond tolerance {tol} over {_g(n_b, 6)} candidate samples"
    return (f"— no significant harm yet; {_g(n_b, 6)} of {_g(n_b + needed, 6)} candidate "
            f"samples, needs {_g(needed, 6)} more")


def metric_reason(plan: MetricPlan, config: MetricConfig, result: MetricJudgement,
                  observations: MetricObservations, note: str | None) -> str:
    """"errors: candidate 2.1% vs stable 1.0% (+1.1 pts, 90% CI 0.6..1.6), p=0.0004 ≤
    0.05 — worse beyond tolerance 0 pts; roll back". Falls back to the core's reason when
    the metric could not be compared."""
    if result.estimate is None:
        return clip(result.reason)
    text = (f"{plan.name}: {_levels(plan, observations)} ({_effect(plan, config, result)}), "
            f"{_p(config, result)} {_judgement(plan, config, result)}")
    if note:
        text += f"; {note}"
    return clip(text)
