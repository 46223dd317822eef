"""The analysis seam and its implementation: the rollout engine asks an Analyzer for a verdict
at each look.

PrometheusAnalyzer.evaluate() plans the PromQL metrics from the spec, asks a metric provider
(injected: the shell passes the Prometheus one) for each variant's observations over the step's
window [status.stepStartedAt, now], and hands them with the previous look's status to the pure
``conclude``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from controller.analysis.observations import Answer, Sizing, latency_note, to_observations
from controller.analysis.outcome import (
    MAX_OUTCOME_REASON,
    TRAFFIC,
    Fetched,
    Look,
    conclude,
    streak,
    unjudged,
)
from controller.analysis.provider import (
    BucketCounts,
    Counts,
    CountsQuery,
    Empty,
    HistogramQuery,
    MetricProvider,
    ProviderError,
    SummaryQuery,
    Window,
)
from controller.analysis.report import clip
from controller.analysis.templates import (
    ConfigError,
    MetricPlan,
    plan_metrics,
    traffic_query,
)
from controller.analysis.types import MetricObservations
from controller.api.spec import Analysis, PrometheusSource
from controller.api.status import AnalysisStatus, LabelCoverage, ModelRolloutStatus, VariantSamples
from controller.api.strategy import AnalysisStep
from controller.contract.table import CANDIDATE, STABLE, serving_window
from controller.rollout.draft import parse_time
from controller.rollout.model import AnalysisOutcome, Observation
from controller.rollout.ref import RolloutRef
from controller.rollout.steps import analysis_step

# The router's series as most Kubernetes scrape configs label them (kube-prometheus and
# the community chart both add namespace and pod): one rollout's router pods only.
DEFAULT_SCOPE = 'namespace="{namespace}",pod=~"{name}-router-.+"'
DEFAULT_MIN_WINDOW_SECONDS = 30  # increase() needs a couple of scrapes inside the window
VALUE_MIN_POINTS, VALUE_DEFAULT_POINTS = 10, 30


def render_scope(scope: str, rollout: RolloutRef) -> str:
    # str.replace, not format(): a scope may hold regex braces such as {2}.
    return scope.replace("{namespace}", rollout.namespace).replace("{name}", rollout.name)


def sizing(analysis: Analysis, step: AnalysisStep | None) -> Sizing:
    """planned = the step's minSamples or spec.analysis.minSamples; a guardrail may fail
    from spec.analysis.minSamples candidate samples. Value-form metrics count evaluation
    points, one per interval, planned over the step's duration."""
    planned = step.min_samples if step and step.min_samples else analysis.min_samples
    points = VALUE_DEFAULT_POINTS
    if step is not None and step.duration_seconds:
        points = max(VALUE_MIN_POINTS, step.duration_seconds // analysis.interval_seconds)
    return Sizing(alpha=analysis.significance_basis_points / 10_000,
                  min_samples=min(analysis.min_samples, planned), planned=planned,
                  value_min_samples=VALUE_MIN_POINTS, value_planned=points)


def previous_status(status: ModelRolloutStatus) -> AnalysisStatus | None:
    """status.analysis belongs to the current step (the machine resets it when a step
    starts); a look older than the step start is ignored all the same."""
    previous, started = status.analysis, parse_time(status.step_started_at)
    if previous is None or started is None:
        return previous
    updated = parse_time(previous.updated_at)
    return previous if updated is not None and updated >= started else None


def srm_weights(observation: Observation) -> tuple[int, int] | None:
    """The live split to check, or None: only the builtin router counts live requests per
    variant, and a 100/0 split (mirror, blue/green preview) has nothing to compare."""
    traffic = observation.status.traffic
    if observation.spec.traffic_routing.kind != "builtin" or traffic is None:
        return None
    if traffic.stable_weight <= 0 or traffic.candidate_weight <= 0:
        return None
    return traffic.stable_weight, traffic.candidate_weight


def _ask(provider: MetricProvider, query: CountsQuery | HistogramQuery | SummaryQuery,
         variant: str, window: Window) -> Answer | Empty:
    if isinstance(query, CountsQuery):
        return provider.counts(query, variant, window)
    if isinstance(query, HistogramQuery):
        return provider.histogram(query, variant, window)
    return provider.summary(query, variant, window)


@dataclass
class _Collector:
    """Accumulates one look's answers; stops asking once Prometheus is down or slow."""

    provider: MetricProvider
    window: Window
    observations: dict[str, MetricObservations] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    down: ProviderError | None = None
    coverage: dict[str, LabelCoverage] = field(default_factory=dict)

    def answers(self, name: str, query: CountsQuery | HistogramQuery | SummaryQuery,
                variants: Sequence[str]) -> dict[str, Answer] | None:
        got: dict[str, Answer] = {}
        for variant in variants:
            if self.down is not None:
                self.errors[name] = f"{variant}: {self.down.describe()}"
                return None
            try:
                answer = _ask(self.provider, query, variant, self.window)
            except ProviderError as exc:
                self.errors[name] = f"{variant}: {exc.describe()}"
                if exc.kind != "query":
                    self.down = exc  # every other query would wait for the same timeout
                return None
            if isinstance(answer, Empty):
                self.missing[name] = f"no data for {variant}: {answer.describe()}"
                return None
            got[variant] = answer
        return got

    def metric(self, plan: MetricPlan) -> None:
        answers = self.answers(plan.name, plan.query, plan.variants)
        baseline = candidate = None
        if answers is not None:
            try:
                baseline, candidate = to_observations(plan, answers)
            except ProviderError as exc:
                self.errors[plan.name] = exc.describe()
            base, cand = answers.get(STABLE), answers.get(CANDIDATE)
            if isinstance(base, BucketCounts) and isinstance(cand, BucketCounts):
                note = latency_note(base, cand)
                if note:
                    self.notes[plan.name] = note
        self.observations[plan.name] = MetricObservations(plan.name, baseline, candidate)
        if plan.coverage is not None and answers is not None:
            self.label_coverage(plan.name, plan.coverage)

    def label_coverage(self, name: str, query: CountsQuery) -> None:
        """Labels / predictions served per variant: for people, never judged (a variant
        with no predictions yet simply has no coverage to show)."""
        got = self.answers(name + " coverage", query, (STABLE, CANDIDATE))
        self.missing.pop(name + " coverage", None)  # informational: never a gap or error
        if self.down is None:
            self.errors.pop(name + " coverage", None)
        if got is None:
            return
        labels, served = {}, {}
        for variant, answer in got.items():
            if isinstance(answer, Counts):
                labels[variant], served[variant] = round(answer.successes), round(answer.trials)
        self.coverage[name] = LabelCoverage(
            labels=VariantSamples(stable=max(labels.get(STABLE, 0), 0),
                                  candidate=max(labels.get(CANDIDATE, 0), 0)),
            predictions=VariantSamples(stable=max(served.get(STABLE, 0), 0),
                                       candidate=max(served.get(CANDIDATE, 0), 0)))

    def traffic(self, query: CountsQuery) -> tuple[int, int] | None:
        answers = self.answers(TRAFFIC, query, (STABLE, CANDIDATE))
        if answers is None:
            return None
        counts = [a.trials for a in answers.values() if isinstance(a, Counts)]
        return (round(counts[0]), round(counts[1])) if len(counts) == 2 else None


def fetch(provider: MetricProvider, plans: Sequence[MetricPlan], window: Window,
          traffic: CountsQuery | None) -> Fetched:
    """Ask the provider for every metric and variant (and the live split, if checked)."""
    collector = _Collector(provider, window)
    for plan in plans:
        collector.metric(plan)
    observed = collector.traffic(traffic) if traffic is not None else None
    return Fetched(collector.observations, collector.missing, collector.errors, observed,
                   collector.notes, collector.down, collector.coverage)


ProviderFactory = Callable[[PrometheusSource], MetricProvider]


class Analyzer(Protocol):
    def evaluate(self, rollout: RolloutRef, observation: Observation) -> AnalysisOutcome:
        """Judge the candidate against stable over the current step's window."""


class PrometheusAnalyzer:
    """The Analyzer over PromQL metrics and the sequential statistics of
    controller.analysis.decision; `provider_factory` gives the provider for a source."""

    def __init__(self, provider_factory: ProviderFactory, *,
                 scope: str = DEFAULT_SCOPE,
                 min_window_seconds: int = DEFAULT_MIN_WINDOW_SECONDS) -> None:
        self._factory = provider_factory
        self._providers: dict[PrometheusSource, MetricProvider] = {}
        self.scope = scope
        self.min_window_seconds = min_window_seconds

    def _provider(self, source: PrometheusSource) -> MetricProvider:
        # One client (and HTTP session) per Prometheus address and timeout.
        if source not in self._providers:
            self._providers[source] = self._factory(source)
        return self._providers[source]

    def evaluate(self, rollout: RolloutRef, observation: Observation) -> AnalysisOutcome:
        spec, status, now = observation.spec, observation.status, observation.now
        analysis = spec.analysis
        step = analysis_step(spec, status.current_step_index)
        previous = previous_status(status)
        if analysis is None:
            return AnalysisOutcome("Error", "spec.analysis is not set: nothing to judge")
        look = Look(analysis, [], sizing(analysis, step), srm_weights(observation), previous,
                    now)
        served = "" if status.candidate_revision is None else serving_window(
            status.candidate_revision, status.current_step_index or 0)
        try:
            plans = plan_metrics(analysis.metrics, scope=render_scope(self.scope, rollout),
                                 step_seconds=analysis.interval_seconds, served=served)
        except ConfigError as exc:
            # The candidate is not at fault and waiting fixes nothing: pause for a person
            # (whatever the error policy) until the spec is fixed.
            return unjudged(look, "Error", f"cannot judge: {exc}; fix the spec (the rollout "
                            "waits for it, never promoted without a verdict)",
                            errors=streak(previous, "errors").extended(now),
                            hold="AnalysisMisconfigured")
        window = self._window(status, now)
        if isinstance(window, str):
            return unjudged(look, "NoData", window)
        query = traffic_query(render_scope(self.scope, rollout)) if look.weights else None
        # Labels still maturing: not judged yet, and nothing passes before they are.
        maturing = [p for p in plans if p.label_delay_seconds > window.seconds]
        judged = [p for p in plans if p not in maturing]
        wait = "; ".join(f"{p.name}: labels maturing (labelDelaySeconds {p.label_delay_seconds}"
                         f", the step is {window.seconds}s old)" for p in maturing)
        if not judged:
            return unjudged(look, "Inconclusive", f"waiting: {wait}")
        fetched = fetch(self._provider(analysis.prometheus), judged, window, query)
        early_pass = not maturing and (
            step is None or step.min_samples is not None or not step.duration_seconds)
        outcome = conclude(Look(analysis, judged, look.sizing, look.weights, previous, now,
                                early_pass), fetched)
        if maturing and outcome.status is not None:
            message = clip(f"{outcome.reason}; {wait}", MAX_OUTCOME_REASON)
            outcome = replace(outcome, reason=message,
                              status=outcome.status.model_copy(update={"message": message}))
        return outcome

    def _window(self, status: ModelRolloutStatus, now: datetime) -> Window | str:
        """The step's window, or why there is none yet (not counted as missing data)."""
        started = parse_time(status.step_started_at)
        if started is None:
            return "the step has no start time yet"
        window = Window(started, now)
        if window.seconds < self.min_window_seconds:
            return (f"step window {window.seconds}s is shorter than "
                    f"{self.min_window_seconds}s: waiting for enough scrapes to compare")
        return window
