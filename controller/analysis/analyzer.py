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

from controller.analysis.labels import coverage_of, labelled, maturing
from controller.analysis.observations import (
    DISCORDANT,
    Answer,
    Sizing,
    latency_note,
    pairs_of,
    to_observations,
)
from controller.analysis.outcome import TRAFFIC, Fetched, Look, conclude, streak, unjudged
from controller.analysis.paired import mcnemar_note
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
from controller.analysis.shadows import judged_shadows, previous_shadow, shadow_verdict
from controller.analysis.templates import (
    ConfigError,
    MetricPlan,
    Query,
    plan_metrics,
    traffic_query,
)
from controller.analysis.types import MetricObservations
from controller.api.analysis import Analysis, PrometheusSource
from controller.api.status import (
    AnalysisStatus,
    LabelCoverage,
    ModelRolloutStatus,
    ShadowVerdict,
)
from controller.api.strategy import AnalysisStep
from controller.contract.table import CANDIDATE, STABLE, serving_window
from controller.rollout.draft import parse_time
from controller.rollout.model import AnalysisOutcome, Observation
from controller.rollout.ref import RolloutRef
from controller.rollout.steps import analysis_step, candidate_is_shadow

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


def sticky_units(observation: Observation) -> bool:
    """Users are the unit of randomization (the builtin router's sticky unit): then they
    are the unit of analysis too."""
    builtin = observation.spec.traffic_routing.builtin
    return observation.spec.traffic_routing.kind == "builtin" and builtin is not None \
        and builtin.unit is not None


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
                variants: Sequence[str], *, candidate_query: Query | None = None,
                candidate: str = CANDIDATE) -> dict[str, Answer] | None:
        """Each variant's answer, keyed stable/candidate; `candidate` names the variant
        asked for the candidate's arm (a long-lived shadow's name when it is judged)."""
        got: dict[str, Answer] = {}
        for key in variants:
            variant = candidate if key == CANDIDATE else key
            asked = candidate_query if key == CANDIDATE and candidate_query else query
            if self.down is not None:
                self.errors[name] = f"{variant}: {self.down.describe()}"
                return None
            try:
                answer = _ask(self.provider, asked, variant, self.window)
            except ProviderError as exc:
                self.errors[name] = f"{variant}: {exc.describe()}"
                if exc.kind != "query":
                    self.down = exc  # every other query would wait for the same timeout
                return None
            if isinstance(answer, Empty):
                self.missing[name] = f"no data for {variant}: {answer.describe()}"
                return None
            got[key] = answer
        return got

    def metric(self, plan: MetricPlan, candidate: str = CANDIDATE) -> None:
        answers = self.answers(plan.name, plan.query, plan.variants,
                               candidate_query=plan.candidate_query, candidate=candidate)
        if answers is not None and plan.discordant_query is not None:
            other = self.answers(plan.name, plan.discordant_query, (CANDIDATE,),
                                 candidate=candidate)
            answers = None if other is None else {**answers, DISCORDANT: other[CANDIDATE]}
        baseline = candidate_obs = None
        if answers is not None:
            try:
                baseline, candidate_obs = to_observations(plan, answers)
                if DISCORDANT in answers:
                    self.notes[plan.name] = mcnemar_note(
                        pairs_of(plan, answers[CANDIDATE], answers[DISCORDANT]))
            except ProviderError as exc:
                self.errors[plan.name] = exc.describe()
            base, cand = answers.get(STABLE), answers.get(CANDIDATE)
            if isinstance(base, BucketCounts) and isinstance(cand, BucketCounts):
                note = latency_note(base, cand)
                if note:
                    self.notes[plan.name] = note
        self.observations[plan.name] = MetricObservations(plan.name, baseline, candidate_obs)
        if plan.coverage is not None and answers is not None and candidate == CANDIDATE:
            self.label_coverage(plan.name, plan.coverage)

    def label_coverage(self, name: str, query: CountsQuery) -> None:
        """Labels / predictions served per variant: for people, never judged nor a gap."""
        key = name + " coverage"
        got = self.answers(key, query, (STABLE, CANDIDATE))
        self.missing.pop(key, None)
        if self.down is None:
            self.errors.pop(key, None)
        if got is not None:
            self.coverage[name] = coverage_of(got)

    def traffic(self, query: CountsQuery) -> tuple[int, int] | None:
        answers = self.answers(TRAFFIC, query, (STABLE, CANDIDATE))
        if answers is None:
            return None
        counts = [a.trials for a in answers.values() if isinstance(a, Counts)]
        return (round(counts[0]), round(counts[1])) if len(counts) == 2 else None


def fetch(provider: MetricProvider, plans: Sequence[MetricPlan], window: Window,
          traffic: CountsQuery | None, candidate: str = CANDIDATE) -> Fetched:
    """Ask the provider for every metric and variant (and the live split, if checked);
    `candidate` is the variant judged against the stable (a shadow's name for a shadow)."""
    collector = _Collector(provider, window)
    for plan in plans:
        collector.metric(plan, candidate)
    observed = collector.traffic(traffic) if traffic is not None else None
    return Fetched(collector.observations, collector.missing, collector.errors, observed,
                   collector.notes, collector.down, collector.coverage)


def _say_left_out(outcome: AnalysisOutcome, analysis: Analysis, plans: Sequence[MetricPlan]
                  ) -> AnalysisOutcome:
    """Name the metrics this step cannot observe (and so does not judge) in its message."""
    planned = {p.name for p in plans}
    left = [m.name for m in analysis.metrics if m.name not in planned]
    if not left or outcome.status is None:
        return outcome
    note = (f"; not judged at this live step: {', '.join(left)} (shadowAgreement needs the "
            "candidate mirrored: judged in mirror steps)")
    return _append(outcome, note)


def _append(outcome: AnalysisOutcome, note: str) -> AnalysisOutcome:
    """`note` added to the outcome's reason and to its status message."""
    if outcome.status is None:
        return outcome
    status = outcome.status.model_copy(update={"message": (outcome.status.message + note)[:4096]})
    return replace(outcome, reason=outcome.reason + note, status=status)


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
        scope = render_scope(self.scope, rollout)
        served = "" if status.candidate_revision is None else serving_window(
            status.candidate_revision, status.current_step_index or 0)
        try:
            plans = labelled(plan_metrics(
                analysis.metrics, scope=scope, step_seconds=analysis.interval_seconds,
                as_shadow=candidate_is_shadow(spec, status.current_step_index),
                unit_level=sticky_units(observation)), analysis.metrics, scope, served)
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
        provider = self._provider(analysis.prometheus)
        # Labels still maturing are not judged yet, and nothing passes before they are.
        judged, waiting = maturing(plans, window)
        if not judged:
            return unjudged(look, "Inconclusive", f"waiting: {waiting}")
        fetched = fetch(provider, judged, window, query)
        early_pass = not waiting and (
            step is None or step.min_samples is not None or not step.duration_seconds)
        outcome = conclude(Look(analysis, judged, look.sizing, look.weights, previous, now,
                                early_pass), fetched)
        outcome = _say_left_out(outcome, analysis, plans)
        if waiting:
            outcome = _append(outcome, f"; {waiting}")
        if fetched.down is not None:
            return outcome  # Prometheus is down: the shadows would wait for it too
        return replace(outcome, shadows=self._shadows(rollout, observation, provider, window,
                                                      look))

    def _shadows(self, rollout: RolloutRef, observation: Observation, provider: MetricProvider,
                 window: Window, look: Look) -> tuple[ShadowVerdict, ...]:
        """Each Ready long-lived shadow judged as a shadow against the stable."""
        shadows = judged_shadows(observation)
        if not shadows:
            return ()
        scope = render_scope(self.scope, rollout)
        plans, _ = maturing(labelled(plan_metrics(
            look.analysis.metrics, scope=scope, step_seconds=look.analysis.interval_seconds,
            as_shadow=True), look.analysis.metrics, scope, ""), window)
        if not plans:
            return ()
        verdicts = []
        for shadow in shadows:
            fetched = fetch(provider, plans, window, None, candidate=shadow.name)
            previous = previous_shadow(observation.status, shadow.name)
            outcome = conclude(Look(look.analysis, plans, look.sizing, None, previous,
                                    look.now), fetched)
            verdict = shadow_verdict(shadow, outcome)
            if verdict is not None:
                verdicts.append(verdict)
        return tuple(verdicts)

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
