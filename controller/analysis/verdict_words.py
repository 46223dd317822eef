"""The answer in words: what a metric's line says it tested and found, in its own units."""

from __future__ import annotations

import math
from collections.abc import Callable

from controller.analysis.types import (
    Direction,
    Goal,
    MetricConfig,
    MetricJudgement,
    MetricVerdict,
    Role,
)


def harm_sign(config: MetricConfig) -> float:
    """+1 when an increase of B - A is harmful, -1 when a decrease is."""
    return 1.0 if config.direction is Direction.LOWER_IS_BETTER else -1.0



Margin = Callable[[float], str]
"""Formats a signed difference candidate - stable set by people (a tolerance, a minimum
effect) in the metric's display units: "+0.5 pts", "-2 pts", "-1%"."""


_TINY_P = 1e-15


def p_text(p: float, name: str = "p") -> str:
    """2 significant digits, scientific below 0.001: p=0.41, p=0.001, p=8.1e-4, p=3e-9;
    p<1e-15 beyond (the normal approximation means nothing that far out)."""
    if p >= 1e-3:
        return f"{name}={p:.2g}"
    if p < _TINY_P:
        return f"{name}<{_TINY_P:.0e}"
    mantissa, exponent = f"{p:.1e}".split("e")
    return f"{name}={mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def lift_text(lift: float | None, low: float | None, high: float | None) -> str:
    """"lift +12.5% (-3.1%..+30%)": candidate / stable - 1 and its interval ("" if none)."""
    if lift is None:
        return ""
    text = f"lift {_percent(lift)}"
    if low is not None and high is not None:
        text += f" ({_percent(low)}..{_percent(high)})"
    return text


def _percent(x: float) -> str:
    value = 100 * x
    return f"{value:+.3g}%" if abs(value) < 1000 else f"{value:+.0f}%"


def ci_level_text(level: float) -> str:
    """90%, 99.98%: as many digits as the level has (never rounded up to 100%)."""
    return f"{100 * level:.4g}%"


def _p_clause(config: MetricConfig, result: MetricJudgement) -> str:
    p = result.p_value if result.p_value is not None else 1.0
    text = p_text(p)
    adjusted = result.adjusted_p_value
    if config.role is Role.GUARDRAIL and adjusted is not None and not math.isclose(adjusted, p):
        text += f", {p_text(adjusted, 'Holm')}"
    return f"({text})"


def _harm_range(config: MetricConfig, result: MetricJudgement) -> tuple[float, float] | None:
    """The interval as harm (positive: worse than stable): (best case, worst case)."""
    if result.ci_low is None or result.ci_high is None:
        return None
    sign = harm_sign(config)
    low, high = sorted((sign * result.ci_low, sign * result.ci_high))
    return low, high


def _side(config: MetricConfig, result: MetricJudgement) -> str | None:
    """"better" or "worse" when the interval excludes no difference, else None."""
    harm = _harm_range(config, result)
    if harm is not None and harm[1] < 0:
        return "better"  # even the worst case is an improvement
    if harm is not None and harm[0] > 0:
        return "worse"  # even the best case is harm
    return None


def _progress(result: MetricJudgement) -> str:
    n_b, needed = result.n_candidate, result.samples_needed
    return f"{n_b:.0f} of {n_b + needed:.0f} candidate samples, needs {needed:.0f} more"


def verdict_words(config: MetricConfig, result: MetricJudgement, margin: Margin) -> str:
    """What was tested and the answer: "better; not worse than -2 pts (p=3e-9)", "no harm
    detected beyond +0.5 pts (p=0.41) over 2000 candidate samples", "worse: harm above
    +0.5 pts (p=0.001); roll back". ``margin`` formats the tolerance and minimum effect."""
    if config.role is Role.GUARDRAIL:
        return _guardrail_words(config, result, margin)
    if config.goal is Goal.IMPROVE:
        return _improve_words(config, result, margin)
    return _not_worse_words(config, result, margin)


def _bound(config: MetricConfig, margin: Margin) -> str:
    """The tolerated difference: "+0.5 pts", or a relative one: "+10% of stable"."""
    sign = harm_sign(config)
    if config.relative_tolerance is not None:
        return f"{sign * 100 * config.relative_tolerance:+.4g}% of stable"
    return margin(sign * config.tolerance)


def _tolerated(config: MetricConfig) -> bool:
    return config.tolerance > 0 or (config.relative_tolerance or 0.0) > 0


def _limit(config: MetricConfig, margin: Margin) -> str:
    """The tolerated difference, as "above +0.5 pts" (lower is better) or "below -2 pts"."""
    return f"{'above' if harm_sign(config) > 0 else 'below'} {_bound(config, margin)}"


def _guardrail_words(config: MetricConfig, result: MetricJudgement, margin: Margin) -> str:
    p, side = _p_clause(config, result), _side(config, result)
    tolerated = _tolerated(config)
    harm = f"harm {_limit(config, margin)}" if tolerated else "worse than stable"
    if result.verdict is MetricVerdict.FAIL:
        return f"{'worse: ' if tolerated else ''}{harm} {p}; roll back"
    adjusted = result.adjusted_p_value
    if adjusted is not None and adjusted <= config.alpha:  # too few samples to fail yet
        return (f"worse so far: {harm} {p}, but a guardrail fails only from "
                f"{config.min_samples} candidate samples; {_progress(result)}")
    # Worse than stable but not shown beyond the tolerance; without a tolerance, "worse"
    # here could only be a p <= alpha that Holm does not reject, which the p clause shows.
    prefix = f"{side} than stable; " if side == "better" or (side and tolerated) else ""
    beyond = f" beyond {_bound(config, margin)}" if tolerated else ""
    if result.verdict is MetricVerdict.PASS:
        return (f"{prefix}no harm detected{beyond} {p} over {result.n_candidate:.0f} "
                "candidate samples")
    return f"{prefix}no harm detected{beyond} so far {p}; {_progress(result)}"


def _not_worse_words(config: MetricConfig, result: MetricJudgement, margin: Margin) -> str:
    p, side = _p_clause(config, result), _side(config, result)
    bound = _bound(config, margin)
    better = "better; " if side == "better" else ""
    if result.verdict is MetricVerdict.PASS:
        return f"{better}not worse than {bound} {p}"
    if result.p_value is not None and result.p_value <= config.alpha:
        return f"{better}not worse than {bound} so far {p}; {_progress(result)}"
    if _beyond_margin(config, result):
        return f"worse: {_limit(config, margin)} {p}"
    worse = "worse than stable; " if side == "worse" else ""
    if result.samples_needed > 0:
        return f"{worse}inconclusive: could still be worse than {bound} {p}; {_progress(result)}"
    return (f"{worse}could still be worse than {bound} {p}, although "
            f"{result.n_candidate:.0f} candidate samples would show it for a candidate as good "
            "as stable: probably worse than stable")


def _beyond_margin(config: MetricConfig, result: MetricJudgement) -> bool:
    """Even the candidate's best case is worse than the non-inferiority margin."""
    if config.relative_tolerance is not None:
        if result.lift_low is None or result.lift_high is None:
            return False
        best = min(harm_sign(config) * result.lift_low, harm_sign(config) * result.lift_high)
        return best > config.relative_tolerance
    harm = _harm_range(config, result)
    return harm is not None and harm[0] > config.tolerance


def _improve_words(config: MetricConfig, result: MetricJudgement, margin: Margin) -> str:
    p, side = _p_clause(config, result), _side(config, result)
    if result.verdict is MetricVerdict.PASS:
        return f"better than stable {p}"
    if result.p_value is not None and result.p_value <= config.alpha:
        return f"better than stable so far {p}; {_progress(result)}"
    if side == "worse":
        return f"worse than stable {p}: not better"
    if result.samples_needed > 0:
        return f"inconclusive: not yet shown better {p}; {_progress(result)}"
    if config.min_effect is not None:
        effect = margin(-harm_sign(config) * config.min_effect)
        return (f"not shown better {p}, although {result.n_candidate:.0f} candidate samples "
                f"would show an improvement of {effect} (80% power): probably not better by "
                "that much")
    return f"not shown better {p} over {result.n_candidate:.0f} candidate samples"
