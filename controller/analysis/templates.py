"""Metric templates: spec.analysis.metrics[i] -> what to ask the provider and how to judge it.

Built-in templates read the model router's metrics (docs/router.md) and are scoped to one
rollout's router by a label matcher (``scope``); custom queries are used as written, with
``{{variant}}`` (and, if present, ``{{window}}``) substituted. docs/analysis.md lists every
query.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from enum import StrEnum

from controller.analysis.provider import VARIANT, WINDOW, CountsQuery, HistogramQuery, SummaryQuery
from controller.analysis.types import Direction, Goal, Role
from controller.api.analysis import Metric
from controller.contract.metrics import (
    COMPARISONS,
    DURATION,
    FEEDBACK,
    LATENCY_BUCKETS,
    PAIRED_FEEDBACK,
    PRIMARY_RESULT_LABEL,
    REQUESTS,
    SHADOW_DURATION,
    SHADOW_REQUESTS,
    SHADOW_RESULT_LABEL,
    UNIT_BUCKET_LABEL,
)
from controller.contract.table import CANDIDATE, STABLE

BOTH = (STABLE, CANDIDATE)
_SELECTOR = re.compile(r"^\s*[A-Za-z_:][A-Za-z0-9_:]*\s*(\{.*\})?\s*$", re.DOTALL)


class Shape(StrEnum):
    """How provider answers become the statistics core's observations."""

    RATE = "rate"  # successes / trials per variant: two proportions
    AGREEMENT = "agreement"  # candidate only, judged against perfect agreement
    SLOW_SHARE = "slow-share"  # histogram: share slower than a bucket boundary
    LATENCY_SHIFT = "latency-shift"  # histogram: P(candidate slower), Mann-Whitney
    VALUE_MEAN = "value-mean"  # custom value form: mean of evaluations, relative tolerance
    PAIRED = "paired"  # labels on the same requests, shadow vs primary: discordant pairs
    LATENCY_QUANTILE = "latency-quantile"  # histogram: ratio of a quantile, Woodruff errors


class ConfigError(ValueError):
    """A metric the spec allows but that cannot be judged; names the field to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


Query = CountsQuery | HistogramQuery | SummaryQuery


@dataclass(frozen=True, slots=True)
class MetricPlan:
    name: str
    shape: Shape
    query: Query
    direction: Direction
    role: Role
    tolerance_bp: int  # absolute points for rates and shares; % of stable for means
    min_effect_bp: int | None
    threshold_seconds: float | None = None
    variants: tuple[str, ...] = BOTH
    goal: Goal = Goal.NOT_WORSE
    # The candidate's own query when it differs from the stable's: the candidate as a shadow
    # (a mirror step, the blue/green preview, a long-lived shadow) is counted in the router's
    # shadow series, the stable in its live ones.
    candidate_query: Query | None = None
    # PAIRED only: the primary-right-shadow-wrong pairs (query holds the reverse).
    discordant_query: CountsQuery | None = None
    relative_tolerance_bp: int | None = None  # a margin on candidate / stable - 1
    quantile: float | None = None  # latencyQuantile: 0.99 for p99
    unit_level: bool = False  # variance across unit buckets (sticky assignment)
    # feedbackAccuracy (controller.analysis.labels): judged once the step is this old, and
    # the labels / predictions served shown beside it.
    label_delay_seconds: int = 0
    coverage: CountsQuery | None = None

    @property
    def relative(self) -> bool:
        """toleranceBasisPoints is a percentage of the stable's mean (value metrics)."""
        return self.shape is Shape.VALUE_MEAN

    @property
    def counts_events(self) -> bool:
        """Samples are requests/comparisons/labels (not evaluation points)."""
        return self.shape is not Shape.VALUE_MEAN


def selector(metric: str, scope: str, **labels: str) -> str:
    """``metric{variant="{{variant}}",<labels>,<scope>}``; a value starting with ``~`` is a
    regular-expression match."""
    matchers = [f'variant="{VARIANT}"']
    for key, value in labels.items():
        op, value = ("=~", value[1:]) if value.startswith("~") else ("=", value)
        matchers.append(f'{key}{op}"{value}"')
    if scope:
        matchers.append(scope)
    return metric + "{" + ",".join(matchers) + "}"


def increase(series: str, *, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping}(increase({series}[{WINDOW}]))"


def traffic_query(scope: str) -> CountsQuery:
    """Live requests per variant, for the sample-ratio check."""
    return CountsQuery("traffic", None, increase(selector(REQUESTS, scope)))


def _router_counts(name: str, metric: str, scope: str, success: str, trial: str,
                   by_unit: bool = False, **labels: str) -> CountsQuery:
    by = UNIT_BUCKET_LABEL if by_unit else ""
    return CountsQuery(name, increase(selector(metric, scope, result=success, **labels), by=by),
                       increase(selector(metric, scope, result=trial, **labels), by=by),
                       empty_successes_are_zero=True, by_unit=by_unit)


def feedback_counts(name: str, scope: str, by_unit: bool = False, **labels: str
                    ) -> CountsQuery:
    """Correct labels of all labels (feedbackAccuracy); by unit bucket when sticky."""
    return _router_counts(name, FEEDBACK, scope, "correct", "~correct|incorrect", by_unit,
                          **labels)


def _error_rate(name: str, scope: str, by_unit: bool = False) -> CountsQuery:
    # Live failures only: timeouts (504) and connect errors (502) are answered as 5xx and
    # counted in requests_total; errors_total also counts shadow copies, so it is not used.
    by = UNIT_BUCKET_LABEL if by_unit else ""
    return CountsQuery(name, increase(selector(REQUESTS, scope, code="5xx"), by=by),
                       increase(selector(REQUESTS, scope), by=by),
                       empty_successes_are_zero=True, by_unit=by_unit)


def _latency(name: str, scope: str, by_unit: bool = False) -> HistogramQuery:
    # The sum only gives people the mean latencies; the tests use the buckets. Grouped by
    # unit bucket the answer is K x 14 series per variant: bounded, whatever the traffic.
    by = f"le, {UNIT_BUCKET_LABEL}" if by_unit else "le"
    return HistogramQuery(name, increase(selector(DURATION + "_bucket", scope), by=by),
                          increase(selector(DURATION + "_sum", scope)), by_unit=by_unit)


def _shadow_error_rate(name: str, scope: str) -> CountsQuery:
    # Every copy sent to a shadow is counted there, a connect failure or timeout as 5xx.
    return CountsQuery(name, increase(selector(SHADOW_REQUESTS, scope, code="5xx")),
                       increase(selector(SHADOW_REQUESTS, scope)), empty_successes_are_zero=True)


def _shadow_latency(name: str, scope: str) -> HistogramQuery:
    return HistogramQuery(name, increase(selector(SHADOW_DURATION + "_bucket", scope), by="le"),
                          increase(selector(SHADOW_DURATION + "_sum", scope)))


STABLE_ONLY = " (stable-only-right pairs)"  # the discordant query's name, in messages


def _paired(name: str, scope: str, primary: str, shadow: str) -> CountsQuery:
    """Labelled pairs where the primary was `primary` and the shadow `shadow`, of all pairs."""
    labels = {PRIMARY_RESULT_LABEL: primary, SHADOW_RESULT_LABEL: shadow}
    return CountsQuery(name, increase(selector(PAIRED_FEEDBACK, scope, **labels)),
                       increase(selector(PAIRED_FEEDBACK, scope)), empty_successes_are_zero=True)


def _threshold_seconds(metric: Metric, field: str) -> float:
    if metric.threshold_milliseconds is None:
        raise ConfigError(f"{field}.thresholdMilliseconds", "template latencyOver needs it")
    seconds = metric.threshold_milliseconds / 1000
    if not any(math.isclose(seconds, b, rel_tol=1e-9) for b in LATENCY_BUCKETS):
        choices = ", ".join(f"{b * 1000:g}" for b in LATENCY_BUCKETS)
        raise ConfigError(f"{field}.thresholdMilliseconds",
                          f"{metric.threshold_milliseconds} is not a bucket boundary of "
                          f"{DURATION}; use one of {choices}")
    return seconds


def _counter_expression(text: str) -> str:
    """A custom ratio query as a count over the window."""
    if WINDOW in text:
        return text  # the author wrote the window in, e.g. sum(increase(x[{{window}}]))
    if _SELECTOR.match(text):
        return f"sum(increase({text.strip()}[{WINDOW}]))"
    # Any other counter-valued expression: increase over a subquery of it.
    return f"sum(increase(({text.strip()})[{WINDOW}:]))"


_DEFAULT_DIRECTION = {
    "errorRate": Direction.LOWER_IS_BETTER, "latencyOver": Direction.LOWER_IS_BETTER,
    "latencyShift": Direction.LOWER_IS_BETTER, "latencyQuantile": Direction.LOWER_IS_BETTER,
    "shadowAgreement": Direction.HIGHER_IS_BETTER,
    "feedbackAccuracy": Direction.HIGHER_IS_BETTER,
}
_DIRECTION = {"LowerIsBetter": Direction.LOWER_IS_BETTER,
              "HigherIsBetter": Direction.HIGHER_IS_BETTER}


def _direction(metric: Metric, field: str) -> Direction:
    if metric.direction is not None:
        return _DIRECTION[metric.direction]
    if metric.template is not None:
        return _DEFAULT_DIRECTION[metric.template]
    raise ConfigError(f"{field}.direction", "a custom query needs direction")


def _shadow_template(metric: Metric, field: str, scope: str) -> MetricPlan | None:
    """The candidate as a shadow, on the same requests as the stable: its errors and latency
    from the shadow series against the stable's live ones, and accuracy from labels paired
    with the stable's on the same requests. None for a template without a shadow form."""
    name, direction = metric.name, _direction(metric, field)
    plan = _plan(metric, direction, Shape.RATE, _error_rate(name, scope))
    match metric.template:
        case "errorRate":
            return _with(plan, candidate_query=_shadow_error_rate(name, scope))
        case "latencyOver":
            return _with(plan, shape=Shape.SLOW_SHARE, query=_latency(name, scope),
                         candidate_query=_shadow_latency(name, scope),
                         threshold_seconds=_threshold_seconds(metric, field))
        case "latencyShift":
            return _with(plan, shape=Shape.LATENCY_SHIFT, query=_latency(name, scope),
                         candidate_query=_shadow_latency(name, scope))
        case "latencyQuantile":
            quantile = metric.quantile / 100 if metric.quantile is not None else None
            return _with(plan, shape=Shape.LATENCY_QUANTILE, query=_latency(name, scope),
                         candidate_query=_shadow_latency(name, scope), quantile=quantile)
        case "feedbackAccuracy":
            return _with(plan, shape=Shape.PAIRED, variants=(CANDIDATE,),
                         query=_paired(name, scope, "incorrect", "correct"),
                         discordant_query=_paired(name + STABLE_ONLY, scope, "correct",
                                                  "incorrect"))
    return None


def _plan(metric: Metric, direction: Direction, shape: Shape, query: Query) -> MetricPlan:
    role = Role.SUCCESS if metric.role == "Success" else Role.GUARDRAIL
    goal = Goal.IMPROVE if role is Role.SUCCESS and metric.goal == "Improve" else Goal.NOT_WORSE
    return MetricPlan(metric.name, shape, query, direction, role, metric.tolerance_basis_points,
                      metric.minimum_effect_basis_points, goal=goal,
                      relative_tolerance_bp=metric.relative_tolerance_basis_points)


def _with(plan: MetricPlan, **changes: object) -> MetricPlan:
    return replace(plan, **changes)  # type: ignore[arg-type]


def _template(metric: Metric, field: str, scope: str, unit_level: bool
              ) -> tuple[Shape, Query, float | None, tuple[str, ...]]:
    name = metric.name
    match metric.template:
        case "errorRate":
            return Shape.RATE, _error_rate(name, scope, unit_level), None, BOTH
        case "latencyOver":
            return (Shape.SLOW_SHARE, _latency(name, scope, unit_level),
                    _threshold_seconds(metric, field), BOTH)
        case "latencyQuantile":
            return Shape.LATENCY_QUANTILE, _latency(name, scope), None, BOTH
        case "latencyShift":
            return Shape.LATENCY_SHIFT, _latency(name, scope), None, BOTH
        case "shadowAgreement":
            query = _router_counts(name, COMPARISONS, scope, "agree", "~agree|disagree")
            return Shape.AGREEMENT, query, None, (CANDIDATE,)
        case "feedbackAccuracy":
            return Shape.RATE, feedback_counts(name, scope, unit_level), None, BOTH
    raise ConfigError(f"{field}.template", f"unknown template {metric.template!r}")


def _custom(metric: Metric, field: str, step_seconds: int) -> tuple[Shape, Query]:
    query = metric.query
    assert query is not None
    if query.numerator is not None and query.denominator is not None:
        return Shape.RATE, CountsQuery(metric.name, _counter_expression(query.numerator),
                                       _counter_expression(query.denominator))
    if query.value is not None:
        return Shape.VALUE_MEAN, SummaryQuery(metric.name, query.value, step_seconds)
    raise ConfigError(f"{field}.query", "set numerator and denominator, or value")


def _check_policy(metric: Metric, field: str, shape: Shape, direction: Direction) -> None:
    effect, tolerance = metric.minimum_effect_basis_points, metric.tolerance_basis_points
    if effect is not None and effect <= tolerance:
        raise ConfigError(f"{field}.minimumEffectBasisPoints",
                          f"{effect} must exceed toleranceBasisPoints ({tolerance})")
    relative = metric.relative_tolerance_basis_points
    if relative is not None and tolerance > 0:
        raise ConfigError(f"{field}.relativeToleranceBasisPoints",
                          "set toleranceBasisPoints or relativeToleranceBasisPoints, not both")
    if relative is not None and effect is not None and effect <= relative:
        raise ConfigError(f"{field}.minimumEffectBasisPoints",
                          f"{effect} must exceed relativeToleranceBasisPoints ({relative})")
    if shape is Shape.LATENCY_QUANTILE and (metric.quantile is None or tolerance > 0):
        which = "quantile" if metric.quantile is None else "toleranceBasisPoints"
        raise ConfigError(f"{field}.{which}", "latencyQuantile needs quantile and is judged "
                          "on the ratio of the quantiles (relativeToleranceBasisPoints)")
    if metric.quantile is not None and shape is not Shape.LATENCY_QUANTILE:
        raise ConfigError(f"{field}.quantile", "only template latencyQuantile has a quantile")
    if relative is not None and shape in (Shape.LATENCY_SHIFT, Shape.AGREEMENT):
        raise ConfigError(f"{field}.relativeToleranceBasisPoints",
                          f"{metric.template} has no level to be relative to; use "
                          "toleranceBasisPoints")
    if shape in (Shape.SLOW_SHARE, Shape.LATENCY_SHIFT, Shape.LATENCY_QUANTILE) \
            and direction is Direction.HIGHER_IS_BETTER:
        raise ConfigError(f"{field}.direction", f"{metric.template} measures slowness: "
                          "LowerIsBetter")
    if shape is Shape.AGREEMENT and direction is Direction.LOWER_IS_BETTER:
        raise ConfigError(f"{field}.direction", "shadowAgreement is judged against perfect "
                          "agreement: HigherIsBetter")


def plan_metric(metric: Metric, index: int, *, scope: str, step_seconds: int,
                as_shadow: bool = False, unit_level: bool = False) -> MetricPlan:
    """Raises ConfigError naming ``spec.analysis.metrics[index].<field>``. With as_shadow the
    candidate is judged as a shadow (a mirror step, the blue/green preview, a long-lived
    shadow): on the same requests as the stable, from the router's shadow series.
    ``unit_level``: assignment is sticky, so live router metrics that carry unit buckets are
    judged with the variance across units (errorRate, latencyOver, feedbackAccuracy)."""
    field = f"spec.analysis.metrics[{index}]"
    direction = _direction(metric, field)
    shadow = _shadow_template(metric, field, scope) if as_shadow and metric.template else None
    if shadow is not None:
        _check_policy(metric, field, shadow.shape, direction)
        return shadow
    threshold = None
    variants: tuple[str, ...] = BOTH
    if metric.template is not None:
        shape, query, threshold, variants = _template(metric, field, scope, unit_level)
    elif metric.query is not None:
        shape, query = _custom(metric, field, step_seconds)
    else:
        raise ConfigError(field, "set template or query")
    _check_policy(metric, field, shape, direction)
    role = Role.SUCCESS if metric.role == "Success" else Role.GUARDRAIL
    goal = Goal.IMPROVE if role is Role.SUCCESS and metric.goal == "Improve" else Goal.NOT_WORSE
    quantile = metric.quantile / 100 if metric.quantile is not None else None
    by_unit = isinstance(query, CountsQuery | HistogramQuery) and query.by_unit
    return MetricPlan(metric.name, shape, query, direction, role, metric.tolerance_basis_points,
                      metric.minimum_effect_basis_points, threshold, variants, goal,
                      relative_tolerance_bp=metric.relative_tolerance_basis_points,
                      quantile=quantile, unit_level=by_unit)


def plan_metrics(metrics: list[Metric], *, scope: str, step_seconds: int,
                 as_shadow: bool = False, unit_level: bool = False) -> list[MetricPlan]:
    """The plans of the metrics this step can observe. As a shadow, templates read the
    candidate's shadow series; a custom query is used as written (it sees the candidate only
    where the series it reads exist for a shadow; otherwise it has no data, and
    onMissingData says what happens). Live, shadowAgreement is left out (the candidate is not
    mirrored, so it has no comparisons: live_only_skips names it); none left is a
    ConfigError naming the field."""
    chosen = [(i, m) for i, m in enumerate(metrics) if as_shadow or not needs_mirror(m)]
    if not chosen:
        raise ConfigError("spec.analysis.metrics", "only shadowAgreement, which a live step "
                          "cannot observe (the candidate is not mirrored): add a live metric, "
                          "or judge the candidate in a mirror step (mirror.analysis)")
    return [plan_metric(m, i, scope=scope, step_seconds=step_seconds, as_shadow=as_shadow,
                        unit_level=unit_level)
            for i, m in chosen]


def needs_mirror(metric: Metric) -> bool:
    """A metric only a mirrored candidate (or a shadow) has data for."""
    return metric.template == "shadowAgreement"
