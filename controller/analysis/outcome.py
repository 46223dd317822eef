"""One look, judged: fetched observations + the last status -> AnalysisOutcome (pure).

The only state kept between looks (and across operator restarts) is status.analysis: each
metric's running minimum always-valid p-value (MetricResult.pValue) and the counters of
consecutive looks with missing data and with provider errors. The same status and the
same data in give the same outcome out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from controller.analysis.decision import judge_metrics
from controller.analysis.observations import Sizing, metric_config
from controller.analysis.report import clip, metric_reason
from controller.analysis.templates import MetricPlan, Shape
from controller.analysis.types import (
    AnalysisPolicy,
    AnalysisState,
    Decision,
    MetricConfig,
    MetricObservations,
    MetricVerdict,
    OverallVerdict,
    SplitObservation,
)
from controller.api.spec import Analysis, FailurePolicy
from controller.api.status import AnalysisStatus, MetricResult, VariantSamples, Verdict
from controller.rollout.conditions import rfc3339
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


def _counter(previous: AnalysisStatus | None, name: Literal["missing", "errors"]) -> int:
    if previous is None:
        return 0
    return previous.consecutive_missing if name == "missing" else previous.consecutive_errors


def _action(policy: FailurePolicy, count: int) -> Literal["Hold", "Rollback"]:
    """maxConsecutive looks are tolerated; the policy acts on the next one."""
    return policy.action if count > policy.max_consecutive else "Hold"


def _policy_text(policy: FailurePolicy, count: int, what: str) -> str:
    then = "roll back" if policy.action == "Rollback" else "hold"
    acting = count > policy.max_consecutive
    return (f"{count} consecutive look(s) with {what} (tolerated: {policy.max_consecutive}; "
            f"{'now' if acting else 'then'} {then}); never promoted without data")


def unjudged(look: Look, verdict: Verdict, reason: str, *,
             errors: int | None = None, missing: int | None = None,
             action: Literal["Hold", "Rollback"] = "Hold") -> AnalysisOutcome:
    """A look that judged nothing: the previous metrics (and their p-values) carry over."""
    previous = look.previous
    status = AnalysisStatus(
        verdict=verdict, updated_at=rfc3339(look.now),
        sample_ratio_p_value=previous.sample_ratio_p_value if previous else None,
        consecutive_missing=_counter(previous, "missing") if missing is None else missing,
        consecutive_errors=_counter(previous, "errors") if errors is None else errors,
        metrics=list(previous.metrics) if previous else [])
    return AnalysisOutcome(verdict, clip(reason, MAX_OUTCOME_REASON), None, status, action)


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
    compared = result.estimate is not None
    srm = decision.verdict is OverallVerdict.SRM
    reason = (fetched.errors.get(plan.name) or fetched.missing.get(plan.name)
              or metric_reason(plan, config, result, observations,
                               fetched.notes.get(plan.name)))
    if srm:
        reason = f"not judged (sample ratio mismatch): {reason}"
    baseline = 0 if plan.shape is Shape.AGREEMENT else round(result.n_baseline)
    return MetricResult(
        name=plan.name,
        verdict=_metric_verdict(plan.name, result.verdict, compared, fetched, srm),
        samples=VariantSamples(stable=max(baseline, 0),
                               candidate=max(round(result.n_candidate), 0)),
        estimate=result.estimate, lower=result.ci_low, upper=result.ci_high,
        # The running minimum the next look continues from (unchanged by distrusted data).
        p_value=decision.state.min_p_values.get(plan.name),
        samples_needed=max(round(result.samples_needed), 0),
        reason=clip(reason if reason.startswith(plan.name) else f"{plan.name}: {reason}"))


def _candidate_samples(look: Look, decision: Decision) -> int:
    """For the step's minSamples: the fewest candidate events among event-counting metrics."""
    counted = [r.n_candidate for p, r in zip(look.plans, decision.metrics, strict=True)
               if p.counts_events] or [r.n_candidate for r in decision.metrics]
    return max(round(min(counted)), 0)


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


def _overall(look: Look, fetched: Fetched, decision: Decision, metrics: list[MetricResult]
             ) -> tuple[Verdict, str, Literal["Hold", "Rollback"], int, int]:
    """(verdict, reason, action, consecutive missing, consecutive errors)."""
    analysis, previous = look.analysis, look.previous
    errors = _counter(previous, "errors") + 1 if fetched.errors else 0
    starved = [m.name for m in metrics if m.verdict == "NoData"]
    if fetched.errors:
        missing = _counter(previous, "missing")  # unknown, neither counted nor reset
    else:
        gap = starved or TRAFFIC in fetched.missing
        missing = _counter(previous, "missing") + 1 if gap else 0
    if decision.verdict is OverallVerdict.SRM:
        action = analysis.sample_ratio.action
        text = f"{decision.reason}; policy: {'roll back' if action == 'Rollback' else 'hold'}"
        return "SampleRatioMismatch", text, action, missing, errors
    failed = [m.reason for m in metrics if m.verdict == "Fail"]
    if failed:
        return "Fail", "; ".join(failed), "Rollback", missing, errors
    if fetched.errors:
        what = "; ".join(f"{k}: {v}" for k, v in fetched.errors.items())
        policy = _policy_text(analysis.on_provider_error, errors, "provider errors")
        text = f"provider error ({what}); {policy}"
        return "Error", text, _action(analysis.on_provider_error, errors), missing, errors
    if missing:
        gaps = [m.reason for m in metrics if m.verdict == "NoData"]
        if TRAFFIC in fetched.missing:
            gaps.append(f"{TRAFFIC} (sample-ratio check): {fetched.missing[TRAFFIC]}")
        policy = _policy_text(analysis.on_missing_data, missing, "missing data")
        text = f"no data: {'; '.join(gaps)}; {policy}"
        return "NoData", text, _action(analysis.on_missing_data, missing), missing, errors
    if decision.verdict is OverallVerdict.PASS:
        passed = "; ".join(m.reason for m in metrics)
        if not look.early_pass:
            return ("Inconclusive", f"no harm so far; watching until the step's durationSeconds "
                    f"are up: {passed}", "Hold", 0, 0)
        return "Pass", f"all metrics passed: {passed}", "Hold", 0, 0
    waiting = [m.reason for m in metrics if m.verdict != "Pass"]
    return "Inconclusive", "waiting: " + "; ".join(waiting), "Hold", 0, 0


def conclude(look: Look, fetched: Fetched) -> AnalysisOutcome:
    """Judge one look. Never Pass without data: missing metrics, provider errors and a
    distrusted split each keep the verdict away from Pass."""
    try:
        configs, decision = _judge(look, fetched)
    except ValueError as exc:  # data the core refuses (e.g. mismatched histogram buckets)
        errors = _counter(look.previous, "errors") + 1
        return unjudged(look, "Error", f"analysis could not use the data: {exc}; "
                        f"{_policy_text(look.analysis.on_provider_error, errors, 'errors')}",
                        errors=errors, action=_action(look.analysis.on_provider_error, errors))
    metrics = [_metric_status(plan, config, decision, i, fetched)
               for i, (plan, config) in enumerate(zip(look.plans, configs, strict=True))]
    verdict, reason, action, missing, errors = _overall(look, fetched, decision, metrics)
    srm_p = decision.srm.p_value if decision.srm is not None and look.weights else None
    status = AnalysisStatus(verdict=verdict, updated_at=rfc3339(look.now),
                            sample_ratio_p_value=srm_p, consecutive_missing=missing,
                            consecutive_errors=errors, metrics=metrics)
    return AnalysisOutcome(verdict, clip(reason, MAX_OUTCOME_REASON),
                           _candidate_samples(look, decision), status, action)
