"""Delayed labels (feedbackAccuracy): the serving window, labels maturing, label coverage.

The router counts each label under the window its prediction was served in (label `served`
of modelrouter_feedback_total, from the prediction token), so a step counts the labels of its
own predictions whenever they arrive. `labelDelaySeconds` keeps the metric out of the looks
until the step is that old; coverage (labels / predictions served) is shown, never judged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from controller.analysis.provider import Counts, CountsQuery, Window
from controller.analysis.templates import (
    MetricPlan,
    Shape,
    feedback_counts,
    increase,
    selector,
)
from controller.api.analysis import Metric
from controller.api.status import LabelCoverage, VariantSamples
from controller.contract.metrics import (
    FEEDBACK,
    PAIRED_FEEDBACK,
    PREDICTIONS_SERVED,
    PRIMARY_RESULT_LABEL,
    SERVED_LABEL,
    SHADOW_RESULT_LABEL,
)
from controller.contract.table import CANDIDATE, STABLE

LABELLED_TEMPLATE = "feedbackAccuracy"


def _served(served: str) -> dict[str, str]:
    return {SERVED_LABEL: served} if served else {}


def coverage_query(scope: str, served: str) -> CountsQuery:
    """Labels joined (successes) of the predictions served (trials) in window `served`."""
    window = _served(served)
    return CountsQuery("label coverage",
                       increase(selector(FEEDBACK, scope, result="~correct|incorrect", **window)),
                       increase(selector(PREDICTIONS_SERVED, scope, **window)),
                       empty_successes_are_zero=True)


def labelled(plans: Sequence[MetricPlan], metrics: Sequence[Metric], scope: str, served: str
             ) -> list[MetricPlan]:
    """The plans, feedbackAccuracy ones counting the labels of window `served` (live: from
    modelrouter_feedback_total{served}; the paired shadow form is left as it is), with their
    label delay and coverage query."""
    by_name = {m.name: m for m in metrics}
    out = []
    for plan in plans:
        metric = by_name.get(plan.name)
        if metric is None or metric.template != LABELLED_TEMPLATE:
            out.append(plan)
            continue
        query, discordant = plan.query, plan.discordant_query
        window = _served(served)
        if plan.shape is Shape.RATE and served:
            query = feedback_counts(plan.name, scope, plan.unit_level, **window)
        elif plan.shape is Shape.PAIRED and served and discordant is not None:
            query = _paired(query.metric, scope, "incorrect", "correct", window)
            discordant = _paired(discordant.metric, scope, "correct", "incorrect", window)
        out.append(replace(plan, query=query, discordant_query=discordant,
                           label_delay_seconds=metric.label_delay_seconds,
                           coverage=coverage_query(scope, served)))
    return out


def _paired(name: str, scope: str, primary: str, shadow: str, window: dict[str, str]
            ) -> CountsQuery:
    """Labelled pairs of the window where the primary was `primary` and the shadow `shadow`,
    of all its pairs (templates._paired, within one serving window)."""
    labels = {PRIMARY_RESULT_LABEL: primary, SHADOW_RESULT_LABEL: shadow, **window}
    return CountsQuery(name, increase(selector(PAIRED_FEEDBACK, scope, **labels)),
                       increase(selector(PAIRED_FEEDBACK, scope, **window)),
                       empty_successes_are_zero=True)


def coverage_of(answers: Mapping[str, object]) -> LabelCoverage:
    labels, served = {}, {}
    for variant, answer in answers.items():
        if isinstance(answer, Counts):
            labels[variant] = max(round(answer.successes), 0)
            served[variant] = max(round(answer.trials), 0)
    return LabelCoverage(
        labels=VariantSamples(stable=labels.get(STABLE, 0), candidate=labels.get(CANDIDATE, 0)),
        predictions=VariantSamples(stable=served.get(STABLE, 0),
                                   candidate=served.get(CANDIDATE, 0)))


def maturing(plans: Sequence[MetricPlan], window: Window) -> tuple[list[MetricPlan], str]:
    """(the plans judged now, why the others wait): labels not labelDelaySeconds old yet."""
    waiting = [p for p in plans if p.label_delay_seconds > window.seconds]
    text = "; ".join(f"{p.name}: labels maturing (labelDelaySeconds {p.label_delay_seconds}, "
                     f"the step is {window.seconds}s old)" for p in waiting)
    return [p for p in plans if p not in waiting], text
