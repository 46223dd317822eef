"""The decision policy for one analysis look, as a pure function.

Order: sample ratio mismatch first (a wrong split means the comparison is not trusted);
then each metric through the always-valid sequential test; Holm across guardrails; fail as
soon as a guardrail is significantly worse than its tolerance; pass only when every metric
has its planned sample and no failure (success metrics shown non-inferior); otherwise
inconclusive. Missing observations are never zeros and never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from controller.analysis.compare import Comparison, compare
from controller.analysis.effects import relative_lift
from controller.analysis.multiple import holm_adjust
from controller.analysis.power import more_samples_needed
from controller.analysis.sequential import (
    OneSided,
    confidence_multiplier,
    information_ratio,
    sequential_sample_size,
    sequential_test,
)
from controller.analysis.srm import srm_check
from controller.analysis.types import (
    AnalysisPolicy,
    AnalysisState,
    Decision,
    Goal,
    HistogramObservation,
    MeanObservation,
    MetricConfig,
    MetricJudgement,
    MetricKind,
    MetricObservations,
    MetricVerdict,
    OverallVerdict,
    ProportionObservation,
    Role,
    SplitObservation,
    StatResult,
    UnitBucketedObservation,
    VariantObservation,
)
from controller.analysis.verdict_words import (
    ci_level_text,
    harm_sign,
    lift_text,
    p_text,
    verdict_words,
)

_OBSERVATION_TYPE: dict[MetricKind, tuple[type, ...]] = {
    MetricKind.PROPORTION: (ProportionObservation, UnitBucketedObservation),
    MetricKind.HISTOGRAM: (HistogramObservation, UnitBucketedObservation),
    MetricKind.MEAN: (MeanObservation,),
    MetricKind.QUANTILE: (HistogramObservation,)}


def _check_kind(config: MetricConfig, a: VariantObservation, b: VariantObservation) -> None:
    expected = _OBSERVATION_TYPE[config.kind]
    if not (isinstance(a, expected) and type(a) is type(b)):
        raise ValueError(f"observations for metric {config.name!r} do not match kind "
                         f"{config.kind}: expected {' or '.join(t.__name__ for t in expected)}")


def _sample_count(obs: VariantObservation) -> float:
    if isinstance(obs, ProportionObservation):
        return float(obs.trials)
    if isinstance(obs, HistogramObservation):
        return max((c for _, c in obs.buckets), default=0.0)
    if isinstance(obs, UnitBucketedObservation):
        return float(sum(obs.trials))
    return float(obs.count)


def _enough_to_compare(config: MetricConfig, a: VariantObservation, b: VariantObservation) -> bool:
    need = 2.0 if config.kind is MetricKind.MEAN else 1.0
    if isinstance(a, UnitBucketedObservation) and isinstance(b, UnitBucketedObservation) \
            and min(len(a.trials), len(b.trials)) < 2:
        return False  # one bucket has no spread to estimate a variance from
    return _sample_count(a) >= need and _sample_count(b) >= need


def _absolute_tolerance(config: MetricConfig, comparison: Comparison) -> float:
    """The margin in the metric's units (a relative one at the stable's current level)."""
    if config.relative_tolerance is None:
        return config.tolerance
    return config.relative_tolerance * abs(comparison.level_a or 0.0)


def _required_samples(config: MetricConfig, comparison: Comparison) -> float:
    """Candidate samples before this metric may pass: the plan, or more when the plan is
    too small to detect the minimum effect (guardrail), to show non-inferiority, or to show
    superiority (goal improve, or tolerance 0) by the minimum effect."""
    tolerance = _absolute_tolerance(config, comparison)
    if config.role is Role.SUCCESS and (config.goal is Goal.IMPROVE or tolerance <= 0):
        if config.min_effect is None:
            return float(config.planned_samples)
        # Show superiority when the candidate is truly better by the minimum effect.
        signal, harm = config.min_effect, -config.min_effect
    elif config.role is Role.SUCCESS:
        signal, harm = tolerance, 0.0  # show NI when the candidate is truly as good
    elif config.min_effect is not None and config.min_effect > tolerance:
        signal, harm = config.min_effect - tolerance, config.min_effect
    else:
        return float(config.planned_samples)
    var_b = comparison.var_b
    if comparison.rate_a is not None and comparison.unit_buckets is None:
        # A rate's variance moves with the rate: size for the candidate at that harm
        # (unit buckets: their observed per-request variance keeps the design effect).
        rate_b = min(max(comparison.rate_a + harm_sign(config) * harm, 1e-6), 1 - 1e-6)
        var_b = rate_b * (1 - rate_b)
    ratio = comparison.n_a / comparison.n_b
    sd = math.sqrt(comparison.var_a / ratio + var_b)
    if sd <= 0:
        return float(config.planned_samples)
    needed = sequential_sample_size(signal, sd, planned_n_b=config.planned_samples,
                                    alpha=config.alpha)
    return max(float(config.planned_samples), needed)


def _tested(config: MetricConfig, comparison: Comparison) -> tuple[float, float, float]:
    """(estimate, variance, null) of the quantity tested. An absolute margin tests B - A
    against it. A relative margin delta tests B - c A against 0 with c = 1 + delta when an
    increase harms (1 - delta when a decrease does): B / A beyond c is exactly B - c A
    beyond 0 (Fieller's linear form), which stays defined when A is near 0. A quantile with
    a relative margin tests log(Q_B / Q_A) against log(c)."""
    sign = harm_sign(config)
    improve = config.role is Role.SUCCESS and config.goal is Goal.IMPROVE
    if config.relative_tolerance is None:
        return (comparison.estimate, comparison.variance,
                0.0 if improve else sign * config.tolerance)
    c = 1 + (0.0 if improve else sign * config.relative_tolerance)
    a, b = comparison.level_a, comparison.level_b
    if a is None or b is None:
        return comparison.estimate, 0.0, 0.0  # no level: no information
    if config.kind is MetricKind.QUANTILE:
        if not (a > 0 and b > 0):
            return 0.0, 0.0, 0.0
        variance = comparison.var_level_b / b**2 + comparison.var_level_a / a**2
        return math.log(b / a), variance, math.log(c)
    return b - c * a, comparison.var_level_b + c * c * comparison.var_level_a, 0.0


def _run_test(config: MetricConfig, comparison: Comparison, previous_p: float,
              multiplier: float) -> StatResult:
    sign = harm_sign(config)
    harmful: OneSided = "greater" if sign > 0 else "less"
    safe: OneSided = "less" if sign > 0 else "greater"
    # Guardrail H0: harm <= tolerance. Success H0: harm >= tolerance (not non-inferior), or
    # for goal improve harm >= 0 (not better): the same test in the improvement direction.
    estimate, variance, null = _tested(config, comparison)
    res = sequential_test(
        estimate, variance, n_a=comparison.n_a, n_b=comparison.n_b,
        planned_n_b=config.planned_samples, null_value=null,
        alternative=harmful if config.role is Role.GUARDRAIL else safe,
        alpha=config.alpha, previous_p=previous_p, df=comparison.df)
    if res.ci_low is None or config.relative_tolerance is None:
        return replace(res, estimate=comparison.estimate)
    # The running p is the tested quantity's; the interval shown is always for B - A.
    half = multiplier * math.sqrt(comparison.variance)
    return replace(res, estimate=comparison.estimate, ci_low=comparison.estimate - half,
                   ci_high=comparison.estimate + half)


def _multiplier(config: MetricConfig, comparison: Comparison) -> float:
    r = information_ratio(comparison.n_b, config.planned_samples, config.alpha)
    return confidence_multiplier(r, config.alpha, comparison.df) if r > 0 else math.inf


def _lift(comparison: Comparison, multiplier: float) -> tuple[float | None, ...]:
    """(lift, low, high): candidate / stable - 1 with a delta-method interval at the level
    of the confidence sequence (valid at every look, like it)."""
    a, b = comparison.level_a, comparison.level_b
    if a is None or b is None:
        return None, None, None
    lift = relative_lift(a, comparison.var_level_a, b, comparison.var_level_b)
    if lift is None:
        return None, None, None
    value, variance = lift
    if variance <= 0:
        return value, None, None
    half = multiplier * math.sqrt(variance)
    if not math.isfinite(half):
        return value, None, None
    return value, max(value - half, -1.0), value + half


def _clipped(config: MetricConfig, res: StatResult) -> StatResult:
    """The confidence sequence intersected with the range B - A can take (a difference of
    proportions is in [-1, 1]). The parameter is always in that range, so coverage is
    unchanged, and the test does not use the bounds: it rejects exactly as often. A range
    that does not hold the estimate is an assumption that failed: then nothing is clipped."""
    low, high = config.value_range
    if res.ci_low is None or res.ci_high is None or not low <= res.estimate <= high:
        return res
    return replace(res, ci_low=max(res.ci_low, low), ci_high=min(res.ci_high, high))


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _signed(x: float) -> str:
    return f"{x:+.4g}"


def _interval(result: MetricJudgement) -> str:
    if result.ci_low is None or result.ci_high is None or result.ci_level is None:
        return "interval not yet defined"
    return (f"{ci_level_text(result.ci_level)} CI {_signed(result.ci_low)}.."
            f"{_signed(result.ci_high)}")


def _lift_text(result: MetricJudgement) -> str:
    text = lift_text(result.lift, result.lift_low, result.lift_high)
    return f"; {text}" if text else ""


@dataclass(frozen=True, slots=True)
class _Judged:
    result: MetricJudgement
    missing: bool
    p_for_state: float | None


def _missing_result(config: MetricConfig, observations: MetricObservations | None,
                    previous_p: float | None) -> _Judged:
    arms = (("baseline", observations.baseline if observations else None),
            ("candidate", observations.candidate if observations else None))
    absent = [arm for arm, obs in arms if obs is None]
    reason = (f"{config.name}: no data for {' and '.join(absent)} (query failed or empty); "
              "not judged, and never counted as zero")
    result = MetricJudgement(config.name, config.role, MetricVerdict.INCONCLUSIVE, 0.0, 0.0, None,
                          None, None, previous_p, None, float(config.planned_samples), reason)
    return _Judged(result, True, previous_p)


def _judge_metric(config: MetricConfig, observations: MetricObservations | None,
                  previous_p: float | None) -> tuple[_Judged, StatResult | None, float]:
    """Per-metric test before Holm; returns (judged draft, test result, required samples)."""
    if observations is None or observations.baseline is None or observations.candidate is None:
        return _missing_result(config, observations, previous_p), None, config.planned_samples
    a, b = observations.baseline, observations.candidate
    _check_kind(config, a, b)
    if not _enough_to_compare(config, a, b):
        reason = (f"{config.name}: too few samples to compare yet "
                  f"(baseline {_fmt(_sample_count(a))}, candidate {_fmt(_sample_count(b))})")
        result = MetricJudgement(config.name, config.role, MetricVerdict.INCONCLUSIVE,
                              _sample_count(a), _sample_count(b), None, None, None, previous_p,
                              None,
                              more_samples_needed(_sample_count(b), config.planned_samples),
                              reason)
        return _Judged(result, False, previous_p), None, config.planned_samples
    comparison = compare(config, a, b)
    multiplier = _multiplier(config, comparison)
    res = _clipped(config, _run_test(config, comparison,
                                     1.0 if previous_p is None else previous_p, multiplier))
    required = _required_samples(config, comparison)
    # sequential_test holds each side of its interval with 1 - alpha: both with 1 - 2 alpha.
    level = 1 - 2 * config.alpha if res.ci_low is not None else None
    lift, lift_low, lift_high = _lift(comparison, multiplier) if res.ci_low is not None else (
        None, None, None)
    estimate = None if comparison.why_not_estimated else res.estimate
    result = MetricJudgement(config.name, config.role, MetricVerdict.INCONCLUSIVE, comparison.n_a,
                          comparison.n_b, estimate, res.ci_low, res.ci_high, res.p_value,
                          None, 0.0, comparison.why_not_estimated, comparison.shift_p_value, level,
                          lift, lift_low, lift_high, comparison.unit_buckets,
                          bool(comparison.why_not_estimated))
    return _Judged(result, False, res.p_value), res, required


def _verdict(config: MetricConfig, draft: MetricJudgement, res: StatResult, adjusted: float,
             required: float) -> MetricJudgement:
    """Turn a tested draft into pass / fail / inconclusive with a reason a person can act on.
    ``adjusted`` is the Holm-adjusted p for a guardrail, the raw p for a success metric."""
    n_b, p = res.n_b, res.p_value
    needed = more_samples_needed(n_b, required)
    if config.role is Role.GUARDRAIL:
        if n_b >= config.min_samples and adjusted <= config.alpha:
            verdict, needed = MetricVerdict.FAIL, 0.0
        elif needed == 0:
            verdict = MetricVerdict.PASS
        else:
            verdict = MetricVerdict.INCONCLUSIVE
    elif p <= config.alpha and n_b >= config.planned_samples:
        verdict, needed = MetricVerdict.PASS, 0.0
    else:
        verdict = MetricVerdict.INCONCLUSIVE
        needed = max(needed, more_samples_needed(n_b, config.planned_samples))
    judged = replace(draft, verdict=verdict, n_baseline=res.n_a, n_candidate=n_b,
                     p_value=p, adjusted_p_value=adjusted, samples_needed=needed)
    # A draft's reason says why there is no estimate yet (report.metric_reason shows it).
    measured = draft.reason or (f"candidate - baseline {_signed(res.estimate)} "
                                f"({_interval(judged)}{_lift_text(judged)})")
    reason = f"{config.name}: {measured} — {verdict_words(config, judged, _signed)}"
    return replace(judged, reason=reason)


def _judge_all(metrics: Sequence[MetricConfig], observations: Mapping[str, MetricObservations],
               state: AnalysisState) -> list[_Judged]:
    drafts = [_judge_metric(m, observations.get(m.name), state.min_p_values.get(m.name))
              for m in metrics]
    guard = [i for i, m in enumerate(metrics) if m.role is Role.GUARDRAIL]
    # Missing or untested guardrails enter Holm with their last valid p (1 if none), so
    # that a missing metric never makes the others easier to fail.
    guard_p = [drafts[i][0].result.p_value for i in guard]
    adjusted = dict(zip(guard, holm_adjust([1.0 if p is None else p for p in guard_p]),
                        strict=True))
    judged = []
    for i, (config, (draft, res, required)) in enumerate(zip(metrics, drafts, strict=True)):
        if res is None:
            judged.append(draft)
            continue
        result = _verdict(config, draft.result, res, adjusted.get(i, res.p_value), required)
        judged.append(_Judged(result, False, draft.p_for_state))
    return judged


def _validate(metrics: Sequence[MetricConfig], observations: Mapping[str, MetricObservations]
              ) -> None:
    if not metrics:
        raise ValueError("metrics must not be empty: never promote without data")
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ValueError(f"metrics must have unique names, got {names}")
    unknown = set(observations) - set(names)
    if unknown:
        raise ValueError(f"observations has metrics that are not configured: {sorted(unknown)}")


def judge_metrics(
    metrics: Sequence[MetricConfig],
    observations: Mapping[str, MetricObservations],
    traffic: SplitObservation,
    state: AnalysisState | None = None,
    policy: AnalysisPolicy | None = None,
) -> Decision:
    """Judge one analysis look. Observations are cumulative since the analysis started;
    ``state`` comes from the previous look's Decision.state (None on the first look)."""
    _validate(metrics, observations)
    state = state or AnalysisState()
    policy = policy or AnalysisPolicy()
    judged = _judge_all(metrics, observations, state)
    results = tuple(j.result for j in judged)
    missing = tuple(j.result.name for j in judged if j.missing)
    if traffic.observed is None:
        missing = (*missing, "traffic-split")
    srm = (srm_check(traffic.observed, traffic.weights, threshold=policy.srm_threshold)
           if traffic.observed is not None else None)
    if srm is not None and srm.mismatch:
        # Distrusted data must not move the running p-values either.
        held = tuple(_not_judged(r) for r in results)
        reason = (f"sample ratio mismatch: observed {list(srm.observed)} vs expected "
                  f"{[round(e, 1) for e in srm.expected]} ({p_text(srm.p_value)} < "
                  f"{_fmt(srm.threshold)}); comparisons not trusted, never promote; check "
                  "the router and the health of each variant")
        return Decision(OverallVerdict.SRM, reason, held, srm, missing, state)
    next_state = AnalysisState(
        {m.name: j.p_for_state for m, j in zip(metrics, judged, strict=True)
         if j.p_for_state is not None},
        state.missing_data_looks + 1 if missing else 0)
    verdict, reason = _overall(results, missing, next_state, policy)
    return Decision(verdict, reason, results, srm, missing, next_state)


def _not_judged(result: MetricJudgement) -> MetricJudgement:
    return MetricJudgement(result.name, result.role, MetricVerdict.INCONCLUSIVE, result.n_baseline,
                        result.n_candidate, result.estimate, result.ci_low, result.ci_high,
                        result.p_value, result.adjusted_p_value, result.samples_needed,
                        f"not judged (sample ratio mismatch); {result.reason}",
                        result.shift_p_value, result.ci_level, result.lift, result.lift_low,
                        result.lift_high, result.unit_buckets)


def _overall(results: Sequence[MetricJudgement], missing: Sequence[str], state: AnalysisState,
             policy: AnalysisPolicy) -> tuple[OverallVerdict, str]:
    failed = [r for r in results if r.verdict is MetricVerdict.FAIL]
    if failed:
        return OverallVerdict.FAIL, "; ".join(r.reason for r in failed)
    if missing:
        looks = state.missing_data_looks
        text = (f"missing data for {', '.join(missing)} ({looks} consecutive look(s), "
                f"limit {policy.missing_data_limit})")
        if looks > policy.missing_data_limit:
            if policy.on_missing_data == "rollback":
                return OverallVerdict.FAIL, f"{text}; policy is to roll back"
            return OverallVerdict.INCONCLUSIVE, f"{text}; policy is to hold"
        return OverallVerdict.INCONCLUSIVE, f"{text}; never promoted without data"
    if all(r.verdict is MetricVerdict.PASS for r in results):
        return OverallVerdict.PASS, "all metrics reached their samples without failure"
    pending = [r for r in results if r.verdict is not MetricVerdict.PASS]
    most = max(r.samples_needed for r in pending)
    return OverallVerdict.INCONCLUSIVE, (f"waiting for {', '.join(r.name for r in pending)}; "
                                         f"up to {_fmt(most)} more candidate samples")
