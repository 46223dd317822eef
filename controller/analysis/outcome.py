"""One look, judged: fetched observations + the last status -> AnalysisOutcome (pure).

The only state kept between looks (and across operator restarts) is status.analysis: each
metric's running minimum always-valid p-value (MetricResult.pValue) and the counters (and
first looks) of the current runs of looks with missing data and with provider errors. The
same status and the same data in give the same outcome out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from controller.analysis.decision import judge_metrics
from controller.analysis.observations import Sizing, metric_config
from controller.analysis.provider import ProviderError
from controller.analysis.report import clip, metric_reason
from controller.analysis.templates import MetricPlan, Shape
from controller.analysis.types import (
    AnalysisPolicy,
    AnalysisState,
    Decision,
    MetricConfig,
    MetricJudgement,
    MetricObservations,
    MetricVerdict,
    OverallVerdict,
    Role,
    SplitObservation,
)
from controller.api.analysis import Analysis, FailurePolicy
from controller.api.status import (
    AnalysisStatus,
    LabelCoverage,
    MetricResult,
    VariantSamples,
    Verdict,
)
from controller.rollout.conditions import rfc3339
from controller.rollout.draft import parse_time
from controller.rollout.model import AnalysisOutcome

MAX_OUTCOME_REASON = 2000
TRAFFIC = "traffic split"  # not a DNS label, so never a metric's name
# The core never acts on missing data itself: the spec's policies are applied here, with
# counters that live in status.
_NEVER = 10**9
_CORE_VERDICT: dict[MetricVerdict, Verdict] = {
    MetricVerdict.PASS: "Pass", MetricVerdict.FAIL: "Fail",
    MetricVerdict.INCONCLUSIVE: "Inconclusive"}


@dataclass(frozen=True)
class Fetched:
    """What the provider gave for this look. A metric is in at most one of missing/errors;
    ``traffic`` is (stable, candidate) live requests, None when missing or not checked;
    a problem with it is keyed TRAFFIC."""

    observations: Mapping[str, MetricObservations]
    missing: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    traffic: tuple[int, int] | None = None
    notes: Mapping[str, str] = field(default_factory=dict)  # context for people
    down: ProviderError | None = None  # Prometheus timed out or was unreachable this look
    coverage: Mapping[str, LabelCoverage] = field(default_factory=dict)  # feedback metrics


@dataclass(frozen=True)
class Look:
    analysis: Analysis
    plans: Sequence[MetricPlan]
    sizing: Sizing
    weights: tuple[int, int] | None  # configured live split; None: no SRM check this step
    previous: AnalysisStatus | None
    now: datetime
    # A step with only durationSeconds asked to watch for that long: enough samples do not
    # end it early (it still fails fast); the machine passes it when the time is up.
    early_pass: bool = True


def previous_state(previous: AnalysisStatus | None) -> AnalysisState:
    """The sequential test's memory, recovered from the last look's status of this step."""
    if previous is None:
        return AnalysisState()
    p_values = {m.name: m.p_value for m in previous.metrics
                if m.p_value is not None and 0.0 <= m.p_value <= 1.0}
    return AnalysisState(p_values, previous.consecutive_missing)


@dataclass(frozen=True)
class Streak:
    """A run of consecutive looks with missing data (or with provider errors): how many, and
    the first of them (status.analysis.missingSince / errorsSince)."""

    count: int = 0
    since: str | None = None

    def extended(self, now: datetime) -> Streak:
        return Streak(self.count + 1, self.since or rfc3339(now))


def streak(previous: AnalysisStatus | None, name: Literal["missing", "errors"]) -> Streak:
    if previous is None:
        return Streak()
    if name == "missing":
        return Streak(previous.consecutive_missing, previous.missing_since)
    return Streak(previous.consecutive_errors, previous.errors_since)


def _elapsed(streak: Streak, now: datetime) -> float:
    since = parse_time(streak.since)
    return 0.0 if since is None else (now - since).total_seconds()


def _limit_passed(policy: FailurePolicy, run: Streak, now: datetime) -> bool:
    """maxConsecutive looks (and deadlineSeconds) are tolerated; the policy acts after."""
    return run.count > policy.max_consecutive or (
        run.count > 0 and _elapsed(run, now) >= policy.deadline_seconds)


def _action(policy: FailurePolicy, run: Streak, now: datetime, reason: str
            ) -> tuple[Literal["Hold", "Rollback"], str | None]:
    """(action, hold): past the limit Rollback rolls back, and Hold pauses the rollout for a
    person with this reason."""
    if not _limit_passed(policy, run, now):
        return "Hold", None
    return ("Rollback", None) if policy.action == "Rollback" else ("Hold", reason)


def _policy_text(policy: FailurePolicy, run: Streak, now: datetime, what: str,
                 field: str) -> str:
    then = "roll back" if policy.action == "Rollback" else "pause for a person"
    acting = _limit_passed(policy, run, now)
    elapsed = _elapsed(run, now)
    late = run.count > 0 and elapsed >= policy.deadline_seconds
    return (f"{field}: {run.count} consecutive look(s) with {what} (tolerated: "
            f"{policy.max_consecutive}; {'now' if acting else 'then'} {then}) over "
            f"{elapsed:.0f}s since {run.since or rfc3339(now)} (deadlineSeconds "
            f"{policy.deadline_seconds}{' passed' if late else ''}); never promoted without data")


def unjudged(look: Look, verdict: Verdict, reason: str, *,
             errors: Streak | None = None, missing: Streak | None = None,
             action: Literal["Hold", "Rollback"] = "Hold", hold: str | None = None
             ) -> AnalysisOutcome:
    """A look that judged nothing: the previous metrics (and their p-values) carry over."""
    previous = look.previous
    errors = streak(previous, "errors") if errors is None else errors
    missing = streak(previous, "missing") if missing is None else missing
    reason = clip(reason, MAX_OUTCOME_REASON)
    status = AnalysisStatus(
        verdict=verdict, updated_at=rfc3339(look.now),
        sample_ratio_p_value=previous.sample_ratio_p_value if previous else None,
        consecutive_missing=missing.count, missing_since=missing.since,
        consecutive_errors=errors.count, errors_since=errors.since, message=reason,
        metrics=list(previous.metrics) if previous else [])
    return AnalysisOutcome(verdict, reason, None, status, action, hold=hold)


def _metric_verdict(name: str, result: MetricVerdict, compared: bool, fetched: Fetched,
                    srm: bool) -> Verdict:
    if name in fetched.errors:
        return "Error"
    if name in fetched.missing or not compared:
        return "NoData"
    return "SampleRatioMismatch" if srm else _CORE_VERDICT[result]


def _metric_status(plan: MetricPlan, config: MetricConfig, decision: Decision, index: int,
                   fetched: Fetched) -> MetricResult:
    result = decision.metrics[index]
    observations = fetched.observations[plan.name]
    compared = result.estimate is not None or result.not_estimated
    srm = decision.verdict is OverallVerdict.SRM
    reason = (fetched.errors.get(plan.name) or fetched.missing.get(plan.name)
              or metric_reason(plan, config, result, observations,
                               fetched.notes.get(plan.name)))
    if srm:
        reason = f"not judged (sample ratio mismatch): {reason}"
    baseline = 0 if plan.shape in ONE_ARM else round(result.n_baseline)
    return MetricResult(
        name=plan.name,
        verdict=_metric_verdict(plan.name, result.verdict, compared, fetched, srm),
        samples=VariantSamples(stable=max(baseline, 0),
                               candidate=max(round(result.n_candidate), 0)),
        estimate=result.estimate, lower=result.ci_low, upper=result.ci_high,
        **_lift_fields(plan, result),
        # The running minimum the next look continues from (unchanged by distrusted data).
        p_value=decision.state.min_p_values.get(plan.name),
        samples_needed=max(round(result.samples_needed), 0), test=test_name(plan, result),
        label_coverage=fetched.coverage.get(plan.name),
        reason=clip(reason if reason.startswith(plan.name) else f"{plan.name}: {reason}"))


# Shapes judged against a reference, without a stable arm of their own.
ONE_ARM = (Shape.AGREEMENT, Shape.PAIRED)


def _lift_fields(plan: MetricPlan, result: MetricJudgement) -> dict[str, float | None]:
    """The lift where a level has a meaning (not for a one-arm comparison or the shift)."""
    if plan.shape in (*ONE_ARM, Shape.LATENCY_SHIFT):
        return {}
    return {"lift": result.lift, "lift_lower": result.lift_low, "lift_upper": result.lift_high}


_SHAPE_TEST = {Shape.RATE: "two proportions", Shape.AGREEMENT: "one proportion vs 100%",
               Shape.PAIRED: "paired labels on the same requests",
               Shape.SLOW_SHARE: "two proportions of slow requests",
               Shape.LATENCY_SHIFT: "Mann-Whitney", Shape.VALUE_MEAN: "two means",
               Shape.LATENCY_QUANTILE: "ratio of two quantiles (Woodruff)"}


def test_name(plan: MetricPlan, result: MetricJudgement | None) -> str:
    """How a metric is judged, in a few words: the comparison, the unit of analysis and the
    one-sided H1."""
    relative = plan.relative_tolerance_bp is not None
    unit = "% of stable" if plan.relative or relative else " pts"
    bp = plan.relative_tolerance_bp if plan.relative_tolerance_bp is not None else plan.tolerance_bp
    tolerance = f"{bp / 100:g}{unit}"
    if plan.role is Role.GUARDRAIL:
        question = f"worse by more than {tolerance}"
    elif bp > 0:
        question = f"non-inferior within {tolerance}"
    else:
        question = "better than stable (superiority)"
    what = _SHAPE_TEST[plan.shape]
    if plan.shape is Shape.LATENCY_QUANTILE and plan.quantile is not None:
        what = f"p{100 * plan.quantile:g} {what}"
    if result is not None and result.unit_buckets:
        what += f" across {result.unit_buckets} unit buckets"
    return f"{what}, mSPRT: {question}"


def _counted(look: Look, decision: Decision) -> list[tuple[MetricPlan, MetricJudgement]]:
    """The metrics whose samples count for a step's minSamples: those that count events
    (requests, comparisons, labels), or every metric when none does (value form only)."""
    pairs = list(zip(look.plans, decision.metrics, strict=True))
    return [(p, r) for p, r in pairs if p.counts_events] or pairs


def _candidate_samples(look: Look, decision: Decision) -> int:
    """For the step's minSamples: the fewest candidate samples among the counted metrics."""
    return max(round(min(r.n_candidate for _, r in _counted(look, decision))), 0)


def _stable_samples(look: Look, decision: Decision) -> int | None:
    """For the step's minSamples: the fewest stable samples among the counted metrics that
    have a stable arm (shadowAgreement has none); None when none has one."""
    arms = [r.n_baseline for p, r in _counted(look, decision) if p.shape not in ONE_ARM]
    return max(round(min(arms)), 0) if arms else None


def _traffic(look: Look, fetched: Fetched) -> SplitObservation:
    if look.weights is None:
        return SplitObservation((0, 0), (1, 1))  # nothing observed: the check cannot object
    return SplitObservation(fetched.traffic, look.weights)


def _judge(look: Look, fetched: Fetched) -> tuple[list[MetricConfig], Decision]:
    configs = [metric_config(plan, look.sizing, fetched.observations[plan.name].baseline)
               for plan in look.plans]
    policy = AnalysisPolicy(look.analysis.sample_ratio.threshold_basis_points / 10_000,
                            missing_data_limit=_NEVER)
    decision = judge_metrics(configs, fetched.observations, _traffic(look, fetched),
                      previous_state(look.previous), policy)
    return configs, decision


@dataclass(frozen=True)
class _Overall:
    verdict: Verdict
    reason: str
    action: Literal["Hold", "Rollback"]
    missing: Streak
    errors: Streak
    hold: str | None = None
    plan_reached: bool = False


def _field(look: Look, name: str) -> str:
    """The spec field behind one metric's (or the live split's) queries."""
    for index, plan in enumerate(look.plans):
        if plan.name == name:
            return f"spec.analysis.metrics[{index}] ({name})"
    return f"{name} (the sample-ratio check's live requests)"


def _errors_text(look: Look, fetched: Fetched) -> str:
    if fetched.down is not None:
        source = look.analysis.prometheus
        return (f"spec.analysis.prometheus (address {source.address}, timeoutSeconds "
                f"{source.timeout_seconds}): {fetched.down.describe()}")
    return "; ".join(f"{_field(look, k)}: {v}" for k, v in fetched.errors.items())


def _overall(look: Look, fetched: Fetched, decision: Decision, metrics: list[MetricResult]
             ) -> _Overall:
    analysis, previous, now = look.analysis, look.previous, look.now
    errors = streak(previous, "errors").extended(now) if fetched.errors else Streak()
    starved = [m.name for m in metrics if m.verdict == "NoData"]
    if fetched.errors:
        missing = streak(previous, "missing")  # unknown, neither counted nor reset
    else:
        gap = starved or TRAFFIC in fetched.missing
        missing = streak(previous, "missing").extended(now) if gap else Streak()
    if decision.verdict is OverallVerdict.SRM:
        action = analysis.sample_ratio.action
        # Hold: the comparisons cannot be trusted until a person has looked at the router.
        then = "roll back" if action == "Rollback" else "pause for a person"
        text = f"{decision.reason}; spec.analysis.sampleRatio policy: {then}"
        return _Overall("SampleRatioMismatch", text, action, missing, errors,
                        hold="SampleRatioMismatch" if action == "Hold" else None)
    failed = [m.reason for m in metrics if m.verdict == "Fail"]
    if failed:
        return _Overall("Fail", "; ".join(failed), "Rollback", missing, errors)
    if fetched.errors:
        policy = analysis.on_provider_error
        text = (f"provider error ({_errors_text(look, fetched)}); "
                + _policy_text(policy, errors, now, "provider errors",
                               "spec.analysis.onProviderError"))
        action, hold = _action(policy, errors, now, "AnalysisProviderError")
        return _Overall("Error", text, action, missing, errors, hold)
    if missing.count:
        gaps = [m.reason for m in metrics if m.verdict == "NoData"]
        if TRAFFIC in fetched.missing:
            gaps.append(f"{TRAFFIC} (sample-ratio check): {fetched.missing[TRAFFIC]}")
        policy = analysis.on_missing_data
        text = (f"no data: {'; '.join(gaps)}; "
                + _policy_text(policy, missing, now, "missing data", "spec.analysis.onMissingData"))
        action, hold = _action(policy, missing, now, "AnalysisNoData")
        return _Overall("NoData", text, action, missing, errors, hold)
    if decision.verdict is OverallVerdict.PASS:
        passed = "; ".join(m.reason for m in metrics)
        if not look.early_pass:
            return _Overall("Inconclusive", "no harm so far; watching until the step's "
                            f"durationSeconds are up: {passed}", "Hold", missing, errors,
                            plan_reached=True)
        return _Overall("Pass", f"all metrics passed: {passed}", "Hold", missing, errors,
                        plan_reached=True)
    waiting = [m.reason for m in metrics if m.verdict != "Pass"]
    return _Overall("Inconclusive", "waiting: " + "; ".join(waiting), "Hold", missing, errors)


def conclude(look: Look, fetched: Fetched) -> AnalysisOutcome:
    """Judge one look. Never Pass without data: missing metrics, provider errors and a
    distrusted split each keep the verdict away from Pass."""
    try:
        configs, decision = _judge(look, fetched)
    except ValueError as exc:  # data the core refuses (e.g. mismatched histogram buckets)
        errors = streak(look.previous, "errors").extended(look.now)
        policy = look.analysis.on_provider_error
        action, hold = _action(policy, errors, look.now, "AnalysisProviderError")
        return unjudged(look, "Error", f"analysis could not use the data: {exc}; "
                        + _policy_text(policy, errors, look.now, "errors",
                                       "spec.analysis.onProviderError"),
                        errors=errors, action=action, hold=hold)
    metrics = [_metric_status(plan, config, decision, i, fetched)
               for i, (plan, config) in enumerate(zip(look.plans, configs, strict=True))]
    overall = _overall(look, fetched, decision, metrics)
    srm_p = decision.srm.p_value if decision.srm is not None and look.weights else None
    reason = clip(overall.reason, MAX_OUTCOME_REASON)
    status = AnalysisStatus(verdict=overall.verdict, updated_at=rfc3339(look.now),
                            sample_ratio_p_value=srm_p,
                            consecutive_missing=overall.missing.count,
                            missing_since=overall.missing.since,
                            consecutive_errors=overall.errors.count,
                            errors_since=overall.errors.since, message=reason, metrics=metrics)
    return AnalysisOutcome(overall.verdict, reason, _candidate_samples(look, decision), status,
                           overall.action, stable_samples=_stable_samples(look, decision),
                           plan_reached=overall.plan_reached, hold=overall.hold)
