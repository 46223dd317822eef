"""Metric templates: spec.analysis.metrics[i] -> what to ask the provider and how to judge it.

Built-in templates read the model router's metrics (docs/router.md) and are scoped to one
rollout's router by a label matcher (``scope``); custom queries are used as written, with
``{{variant}}`` (and, if present, ``{{window}}``) substituted. docs/analysis.md lists every
query.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from controller.analysis.provider import VARIANT, WINDOW, CountsQuery, HistogramQuery, SummaryQuery
from controller.analysis.types import Direction, Goal, Role
from controller.api.spec import Metric
from controller.contract.metrics import (
    COMPARISONS,
    DURATION,
    FEEDBACK,
    LATENCY_BUCKETS,
    PREDICTIONS_SERVED,
    REQUESTS,
    SERVED_LABEL,
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
    # feedbackAccuracy: judged once the step is this old; labels vs predictions served.
    label_delay_seconds: int = 0
    coverage: CountsQuery | None = None

    @property
    def relative(self) -> bool:
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


def _router_counts(name: str, metric: str, scope: str, success: str, trial: str
                   ) -> CountsQuery:
    return CountsQuery(name, increase(selector(metric, scope, result=success)),
                       increase(selector(metric, scope, result=trial)),
                       empty_successes_are_zero=True)


def _error_rate(name: str, scope: str) -> CountsQuery:
    # Live failures only: timeouts (504) and connect errors (502) are answered as 5xx and
    # counted in requests_total; errors_total also counts shadow copies, so it is not used.
    return CountsQuery(name, increase(selector(REQUESTS, scope, code="5xx")),
                       increase(selector(REQUESTS, scope)), empty_successes_are_zero=True)


def _latency(name: str, scope: str) -> HistogramQuery:
    # The sum only gives people the mean latencies; the tests use the buckets.
    return HistogramQuery(name, increase(selector(DURATION + "_bucket", scope), by="le"),
                          increase(selector(DURATION + "_sum", scope)))


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
    "latencyShift": Direction.LOWER_IS_BETTER, "shadowAgreement": Direction.HIGHER_IS_BETTER,
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


def _template(metric: Metric, field: str, scope: str, served: str = ""
              ) -> tuple[Shape, Query, float | None, tuple[str, ...]]:
    name = metric.name
    match metric.template:
        case "errorRate":
            return Shape.RATE, _error_rate(name, scope), None, BOTH
        case "latencyOver":
            return (Shape.SLOW_SHARE, _latency(name, scope),
                    _threshold_seconds(metric, field), BOTH)
        case "latencyShift":
            return Shape.LATENCY_SHIFT, _latency(name, scope), None, BOTH
        case "shadowAgreement":
            query = _router_counts(name, COMPARISONS, scope, "agree", "~agree|disagree")
            return Shape.AGREEMENT, query, None, (CANDIDATE,)
        case "feedbackAccuracy":
            window = {SERVED_LABEL: served} if served else {}
            query = CountsQuery(
                name, increase(selector(FEEDBACK, scope, result="correct", **window)),
                increase(selector(FEEDBACK, scope, result="~correct|incorrect", **window)),
                empty_successes_are_zero=True)
            return Shape.RATE, query, None, BOTH
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
    if shape in (Shape.SLOW_SHARE, Shape.LATENCY_SHIFT) \
            and direction is Direction.HIGHER_IS_BETTER:
        raise ConfigError(f"{field}.direction", f"{metric.template} measures slowness: "
                          "LowerIsBetter")
    if shape is Shape.AGREEMENT and direction is Direction.LOWER_IS_BETTER:
        raise ConfigError(f"{field}.direction", "shadowAgreement is judged against perfect "
                          "agreement: HigherIsBetter")


def label_coverage(scope: str, served: str) -> CountsQuery:
    """Labels joined (successes) of the predictions served (trials) in window `served`."""
    window = {SERVED_LABEL: served} if served else {}
    return CountsQuery("label coverage",
                       increase(selector(FEEDBACK, scope, result="~correct|incorrect", **window)),
                       increase(selector(PREDICTIONS_SERVED, scope, **window)),
                       empty_successes_are_zero=True)


def plan_metric(metric: Metric, index: int, *, scope: str, step_seconds: int,
                served: str = "") -> MetricPlan:
    """Raises ConfigError naming ``spec.analysis.metrics[index].<field>``. `served`: the
    serving window (the routing table's) whose labels feedbackAccuracy counts."""
    field = f"spec.analysis.metrics[{index}]"
    direction = _direction(metric, field)
    threshold = None
    variants: tuple[str, ...] = BOTH
    if metric.template is not None:
        shape, query, threshold, variants = _template(metric, field, scope, served)
    elif metric.query is not None:
        shape, query = _custom(metric, field, step_seconds)
    else:
        raise ConfigError(field, "set template or query")
    _check_policy(metric, field, shape, direction)
    role = Role.SUCCESS if metric.role == "Success" else Role.GUARDRAIL
    goal = Goal.IMPROVE if role is Role.SUCCESS and metric.goal == "Improve" else Goal.NOT_WORSE
    labelled = metric.template == "feedbackAccuracy"
    return MetricPlan(metric.name, shape, query, direction, role, metric.tolerance_basis_points,
                      metric.minimum_effect_basis_points, threshold, variants, goal,
                      metric.label_delay_seconds if labelled else 0,
                      label_coverage(scope, served) if labelled else None)


def plan_metrics(metrics: list[Metric], *, scope: str, step_seconds: int,
                 served: str = "") -> list[MetricPlan]:
    return [plan_metric(m, i, scope=scope, step_seconds=step_seconds, served=served)
            for i, m in enumerate(metrics)]
