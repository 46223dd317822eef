"""Per-metric reasons a person can act on, in the metric's own units (pure).

One line per metric: the levels, the difference with its always-valid interval, then what
was tested and the answer (controller.analysis.decision.verdict_words), e.g.
"errors: candidate 0.42% vs stable 0.40% (+0.02 pts, 90% CI -0.10..+0.15) — no harm
detected beyond +0.5 pts (p=0.41) over 2000 candidate samples".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.analysis.histogram import histogram_quantile, share_slower_than
from controller.analysis.observations import mean_of
from controller.analysis.templates import MetricPlan, Shape
from controller.analysis.types import (
    HistogramObservation,
    MetricConfig,
    MetricJudgement,
    MetricObservations,
    VariantObservation,
)
from controller.analysis.verdict_words import ci_level_text, lift_text, verdict_words

MAX_REASON = 1000
_MAX_DECIMALS = 6


def clip(text: str, limit: int = MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _g(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


def is_share(plan: MetricPlan) -> bool:
    return plan.shape not in (Shape.VALUE_MEAN, Shape.LATENCY_QUANTILE)


def _decimals(spread: float) -> int:
    """Decimals that show ``spread`` (an interval's half-width) with 2 significant digits:
    the numbers are as precise as the data, "-0.10..+0.15", "+4.4..+11.7", "-100..+100"."""
    return min(max(1 - math.floor(math.log10(spread)), 0), _MAX_DECIMALS)


@dataclass(frozen=True, slots=True)
class _Units:
    """How a difference candidate - stable is shown: points for rates and shares, percent of
    the stable's mean for value metrics (relative, like their tolerance)."""

    scale: float  # display units per metric unit
    suffix: str  # " pts", "%" or ""
    decimals: int | None  # from the interval's width; None: 3 significant digits

    def number(self, x: float) -> str:
        """A signed bound or estimate, without its unit: +0.02, -0.10, 0.00 (exactly no
        difference), +0.0 (positive, but below the precision shown)."""
        value = self.scale * x
        if value == 0:
            return "0" if self.decimals is None else f"{0:.{self.decimals}f}"
        return f"{value:+.3g}" if self.decimals is None else f"{value:+.{self.decimals}f}"

    def change(self, x: float) -> str:
        """An estimated difference with its unit: +8.1 pts, -12.4%."""
        return self.number(x) + self.suffix

    def margin(self, x: float) -> str:
        """A difference people set (tolerance, minimum effect): +0.5 pts, -2 pts, -1%."""
        value = self.scale * x
        return ("+" if value > 0 else "") + _g(value) + self.suffix


def _units(plan: MetricPlan, result: MetricJudgement, observations: MetricObservations
           ) -> _Units:
    stable = mean_of(observations.baseline)
    if plan.shape is Shape.LATENCY_QUANTILE:
        scale, suffix = 1000.0, " ms"
    elif is_share(plan):
        scale, suffix = 100.0, " pts"
    elif stable:  # relative to the stable's mean, like the tolerance
        scale, suffix = 100 / abs(stable), "%"
    else:
        scale, suffix = 1.0, ""
    decimals = None
    if result.ci_low is not None and result.ci_high is not None:
        spread = scale * (result.ci_high - result.ci_low) / 2
        if spread > 0 and math.isfinite(spread):
            decimals = _decimals(spread)
    return _Units(scale, suffix, decimals)


def amount(plan: MetricPlan, x: float) -> str:
    """A level: 2.1%, 0.4%, 0.804 (3 significant digits)."""
    return _g(100 * x) + "%" if is_share(plan) else _g(x, 4)


def _level(plan: MetricPlan, observation: VariantObservation | None) -> float | None:
    if plan.shape is Shape.LATENCY_QUANTILE and isinstance(observation, HistogramObservation):
        value = histogram_quantile(plan.quantile or 0.5, observation.buckets)
        return value if math.isfinite(value) else None
    if plan.shape is Shape.SLOW_SHARE and isinstance(observation, HistogramObservation):
        assert plan.threshold_seconds is not None
        slow, total = share_slower_than(observation.buckets, plan.threshold_seconds)
        return slow / total if total > 0 else None
    return mean_of(observation)


def _levels(plan: MetricPlan, observations: MetricObservations) -> str:
    cand = _level(plan, observations.candidate)
    if plan.shape is Shape.AGREEMENT:
        floor = 1 - plan.tolerance_bp / 10_000
        return (f"candidate agrees {amount(plan, cand or 0.0)} with stable on the same requests "
                f"(floor {amount(plan, floor)})")
    if plan.shape is Shape.PAIRED:
        return "candidate - stable accuracy on the same labelled requests"
    if plan.shape is Shape.LATENCY_SHIFT:
        return (f"candidate slower than stable in {amount(plan, cand or 0.5)} of request "
                "pairs (no shift: 50%)")
    base = _level(plan, observations.baseline)
    text = (f"candidate {amount(plan, cand)} vs stable {amount(plan, base)}"
            if cand is not None and base is not None else "")
    if plan.shape is Shape.LATENCY_QUANTILE and cand is not None and base is not None:
        text = (f"candidate p{100 * (plan.quantile or 0.5):g} {_g(1000 * cand, 4)} ms vs "
                f"stable {_g(1000 * base, 4)} ms")
    if plan.shape is Shape.SLOW_SHARE:
        text += f" slower than {_g(1000 * (plan.threshold_seconds or 0.0), 4)} ms"
    return text


def _effect(plan: MetricPlan, result: MetricJudgement, units: _Units) -> str:
    assert result.estimate is not None
    text = units.change(result.estimate)
    if result.ci_low is not None and result.ci_high is not None and result.ci_level is not None:
        text += (f", {ci_level_text(result.ci_level)} CI {units.number(result.ci_low)}.."
                 f"{units.number(result.ci_high)}")
    if result.lift is not None and units.suffix != "%" \
            and plan.shape not in (Shape.AGREEMENT, Shape.LATENCY_SHIFT):
        text += "; " + lift_text(result.lift, result.lift_low, result.lift_high)
    return text


def metric_reason(plan: MetricPlan, config: MetricConfig, result: MetricJudgement,
                  observations: MetricObservations, note: str | None) -> str:
    """"accuracy: candidate 97.3% vs stable 89.2% (+8.1 pts, 90% CI +6.7..+9.5) — better;
    not worse than -2 pts (p=4e-77)". Falls back to the core's reason when the metric could
    not be compared."""
    if result.estimate is None:
        return clip(result.reason)
    units = _units(plan, result, observations)
    levels = _levels(plan, observations)
    text = (f"{plan.name}: {levels + ' ' if levels else ''}({_effect(plan, result, units)}) — "
            f"{verdict_words(config, result, units.margin)}")
    if note:
        text += f"; {note}"
    return clip(text)
