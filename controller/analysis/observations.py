"""Provider answers -> the statistics core's observations and metric configuration (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from controller.analysis.histogram import (
    bucket_bounds,
    cumulative_to_counts,
    histogram_quantile,
    share_slower_than,
)
from controller.analysis.paired import NO_DIFFERENCE, Pairs
from controller.analysis.provider import BucketCounts, Counts, ProviderError, Summary
from controller.analysis.stats import chi_square_homogeneity
from controller.analysis.templates import MetricPlan, Shape
from controller.analysis.types import (
    Goal,
    HistogramObservation,
    MeanObservation,
    MetricConfig,
    MetricKind,
    ProportionObservation,
    Role,
    UnitBucketedObservation,
    VariantObservation,
)
from controller.analysis.verdict_words import p_text
from controller.contract.table import CANDIDATE, STABLE

Answer = Counts | BucketCounts | Summary
# shadowAgreement has no baseline arm: the stable's answer is the reference, so the
# candidate is compared with perfect agreement, known (almost) exactly.
REFERENCE_TRIALS = 10**9
PERFECT_AGREEMENT = ProportionObservation(REFERENCE_TRIALS, REFERENCE_TRIALS)
# The answer of a PAIRED plan's discordant_query, beside the candidate's own.
DISCORDANT = "discordant"
_KIND = {Shape.RATE: MetricKind.PROPORTION, Shape.AGREEMENT: MetricKind.PROPORTION,
         Shape.PAIRED: MetricKind.MEAN,
         Shape.SLOW_SHARE: MetricKind.HISTOGRAM, Shape.LATENCY_SHIFT: MetricKind.MEAN,
         Shape.VALUE_MEAN: MetricKind.MEAN, Shape.LATENCY_QUANTILE: MetricKind.QUANTILE}


def proportion(counts: Counts, query: str) -> ProportionObservation:
    """increase() extrapolates to fractions: round to whole events. A numerator above its
    denominator beyond rounding means the numerator does not count a subset of it."""
    trials, successes = round(counts.trials), round(counts.successes)
    if successes > trials:
        if successes - trials > max(1.0, 0.01 * trials):
            raise ProviderError("query", query, f"numerator {counts.successes:g} exceeds "
                                f"denominator {counts.trials:g}: the numerator must count a "
                                "subset of the denominator's events")
        successes = trials
    return ProportionObservation(max(successes, 0), max(trials, 0))


def _same_buckets(plan: MetricPlan, baseline: BucketCounts, candidate: BucketCounts) -> None:
    if bucket_bounds(baseline.buckets) != bucket_bounds(candidate.buckets):
        raise ProviderError("query", plan.name, "the variants' histograms have different "
                            "bucket boundaries; they cannot be compared")


def slower_probability(baseline: BucketCounts, candidate: BucketCounts
                       ) -> tuple[MeanObservation, MeanObservation]:
    """Mann-Whitney over the buckets, as two means for the core's mean comparison.

    theta = P(a candidate request is slower than a stable one) + P(same bucket) / 2 is the
    mean of each candidate request's placement among stable requests; 0.5 means no shift.
    Each stable request gets its placement among candidate requests, recentred to mean
    0.5. The difference of means is theta - 0.5 and its variance the DeLong variance
    var(candidate placements) / n_b + var(stable placements) / n_a: exact from buckets,
    no assumption about the shape of the latency distribution.
    """
    counts_a = np.asarray(cumulative_to_counts(baseline.buckets))
    counts_b = np.asarray(cumulative_to_counts(candidate.buckets))
    n_a, n_b = float(counts_a.sum()), float(counts_b.sum())
    if n_a <= 0 or n_b <= 0:
        return MeanObservation(n_a, 0.0, 0.0), MeanObservation(n_b, 0.0, 0.0)
    faster_a = np.cumsum(counts_a) - counts_a  # stable requests in lower buckets
    faster_b = np.cumsum(counts_b) - counts_b
    place_b = (faster_a + 0.5 * counts_a) / n_a  # candidate request vs stable ones
    place_a = (n_b - faster_b - 0.5 * counts_b) / n_b  # stable request vs candidate ones
    theta = float((counts_b * place_b).sum() / n_b)
    centred_a = place_a - theta + 0.5
    return (MeanObservation(n_a, float((counts_a * centred_a).sum()),
                            float((counts_a * centred_a**2).sum())),
            MeanObservation(n_b, float((counts_b * place_b).sum()),
                            float((counts_b * place_b**2).sum())))


def _unit_buckets(plan: MetricPlan, answer: Answer) -> UnitBucketedObservation | None:
    """Successes and trials per unit bucket, when the plan asks for them and the router's
    series carry at least two buckets (else the request-level comparison is used)."""
    if not plan.unit_level:
        return None
    if isinstance(answer, Counts) and answer.per_unit and len(answer.per_unit) >= 2:
        pairs = [(min(max(s, 0.0), max(t, 0.0)), max(t, 0.0)) for s, t in answer.per_unit]
    elif isinstance(answer, BucketCounts) and answer.per_unit and len(answer.per_unit) >= 2 \
            and plan.threshold_seconds is not None:
        pairs = [share_slower_than(b, plan.threshold_seconds) for b in answer.per_unit]
    else:
        return None
    return UnitBucketedObservation(tuple(s for s, _ in pairs), tuple(t for _, t in pairs))


def _unit_level(plan: MetricPlan, base: Answer, cand: Answer
                ) -> tuple[VariantObservation, VariantObservation] | None:
    a, b = _unit_buckets(plan, base), _unit_buckets(plan, cand)
    if a is None or b is None or sum(a.trials) <= 0 or sum(b.trials) <= 0:
        return None
    return a, b


def to_observations(plan: MetricPlan, answers: Mapping[str, Answer]
                    ) -> tuple[VariantObservation, VariantObservation]:
    """(baseline, candidate) observations for this metric's shape."""
    cand = answers[CANDIDATE]
    if plan.shape is Shape.AGREEMENT and isinstance(cand, Counts):
        return PERFECT_AGREEMENT, proportion(cand, plan.name)
    if plan.shape is Shape.PAIRED and isinstance(cand, Counts):
        return NO_DIFFERENCE, pairs_of(plan, cand, answers[DISCORDANT]).difference
    base = answers[STABLE]
    if plan.shape is Shape.RATE and isinstance(base, Counts) and isinstance(cand, Counts):
        return _unit_level(plan, base, cand) or (proportion(base, plan.name),
                                                 proportion(cand, plan.name))
    if isinstance(base, BucketCounts) and isinstance(cand, BucketCounts):
        _same_buckets(plan, base, cand)
        if plan.shape is Shape.SLOW_SHARE:
            return _unit_level(plan, base, cand) or (HistogramObservation(base.buckets),
                                                     HistogramObservation(cand.buckets))
        if plan.shape is Shape.LATENCY_QUANTILE:
            return HistogramObservation(base.buckets), HistogramObservation(cand.buckets)
        if plan.shape is Shape.LATENCY_SHIFT:
            return slower_probability(base, cand)
    if plan.shape is Shape.VALUE_MEAN and isinstance(base, Summary) \
            and isinstance(cand, Summary):
        return (MeanObservation(base.count, base.total, base.sum_squares),
                MeanObservation(cand.count, cand.total, cand.sum_squares))
    raise ProviderError("query", plan.name, f"answers do not fit metric shape {plan.shape}")


def pairs_of(plan: MetricPlan, shadow_only: Answer, primary_only: Answer) -> Pairs:
    """The labelled pairs from the two paired counts (each over all pairs)."""
    if not (isinstance(shadow_only, Counts) and isinstance(primary_only, Counts)):
        raise ProviderError("query", plan.name, "paired counts expected")
    c, b = proportion(shadow_only, plan.name), proportion(primary_only, plan.name)
    n = max(c.trials, b.trials)
    if b.successes + c.successes > n:
        raise ProviderError("query", plan.name, f"discordant pairs {b.successes}+"
                            f"{c.successes} exceed all pairs {n}")
    return Pairs(n, b.successes, c.successes)


def pairs_from(observation: VariantObservation | None) -> Pairs | None:
    """Back from a paired difference to its counts (for people)."""
    if not isinstance(observation, MeanObservation):
        return None
    c = round((observation.sum_squares + observation.total) / 2)
    b = round((observation.sum_squares - observation.total) / 2)
    return Pairs(round(observation.count), max(b, 0), max(c, 0))


def mean_of(observation: VariantObservation | None) -> float | None:
    """The per-variant level shown to people and used for relative margins: a rate or a
    mean (None for a histogram, whose level depends on the threshold)."""
    if isinstance(observation, ProportionObservation):
        return observation.successes / observation.trials if observation.trials else None
    if isinstance(observation, MeanObservation):
        return observation.total / observation.count if observation.count else None
    if isinstance(observation, UnitBucketedObservation):
        trials = sum(observation.trials)
        return sum(observation.successes) / trials if trials else None
    return None


@dataclass(frozen=True, slots=True)
class Sizing:
    """Samples for this step: a guardrail may fail from ``min_samples`` candidate samples;
    a metric may pass at ``planned`` (more if the minimum effect needs it)."""

    alpha: float
    min_samples: int
    planned: int
    value_min_samples: int
    value_planned: int


def metric_config(plan: MetricPlan, sizing: Sizing, baseline: VariantObservation | None
                  ) -> MetricConfig:
    """Basis points become the metric's units: absolute for rates, shares and the
    slower-probability, a fraction of the stable's mean for the value form (re-read at
    every look from the stable's data)."""
    scale = 1.0
    if plan.relative:
        stable_mean = mean_of(baseline)
        scale = abs(stable_mean) if stable_mean is not None else 1.0
    relative = (plan.relative_tolerance_bp / 10_000
                if plan.relative_tolerance_bp is not None else None)
    if relative is not None:  # the minimum effect is then relative to the stable's level
        level = _level_for_sizing(plan, baseline)
        scale = abs(level) if level and math.isfinite(level) else 0.0
    tolerance = plan.tolerance_bp / 10_000 * scale
    min_effect = (plan.min_effect_bp / 10_000 * scale
                  if plan.min_effect_bp is not None and scale > 0 else None)
    if min_effect is not None and min_effect <= tolerance:
        min_effect = None
    is_value = plan.shape is Shape.VALUE_MEAN
    # Not worse by a margin of 0 is better than stable: the superiority test, worded as such.
    no_margin = plan.tolerance_bp == 0 and not plan.relative_tolerance_bp
    goal = Goal.IMPROVE if plan.role is Role.SUCCESS and no_margin else plan.goal
    return MetricConfig(
        plan.name, _KIND[plan.shape], plan.direction, plan.role, tolerance, sizing.alpha,
        min_samples=sizing.value_min_samples if is_value else sizing.min_samples,
        planned_samples=sizing.value_planned if is_value else sizing.planned,
        min_effect=min_effect, threshold=plan.threshold_seconds,
        bounds=value_range(plan, baseline), goal=goal, relative_tolerance=relative,
        quantile=plan.quantile)


def _level_for_sizing(plan: MetricPlan, baseline: VariantObservation | None) -> float | None:
    """The stable's level a relative minimum effect is a fraction of."""
    if isinstance(baseline, HistogramObservation):
        if plan.quantile is not None:
            return histogram_quantile(plan.quantile, baseline.buckets)
        if plan.threshold_seconds is not None:
            slow, total = share_slower_than(baseline.buckets, plan.threshold_seconds)
            return slow / total if total > 0 else None
    return mean_of(baseline)


def value_range(plan: MetricPlan, baseline: VariantObservation | None
                ) -> tuple[float, float] | None:
    """The range candidate - stable can take, in the metric's units (None: the kind's).
    Agreement is compared with exactly 100%, so it can only fall; the slower-probability
    is within 0.5 of no shift. A value metric whose stable mean is positive is taken as a
    non-negative quantity (a rate, a latency, a score): the candidate cannot fall below 0,
    a lift of -100%."""
    if plan.shape is Shape.AGREEMENT:
        return -1.0, 0.0
    if plan.shape is Shape.PAIRED:
        return -1.0, 1.0
    if plan.shape is Shape.LATENCY_SHIFT:
        return -0.5, 0.5
    stable_mean = mean_of(baseline)
    if plan.shape is Shape.VALUE_MEAN and stable_mean is not None and stable_mean > 0:
        return -stable_mean, math.inf
    return None


def latency_note(baseline: BucketCounts, candidate: BucketCounts) -> str | None:
    """Mean latencies (exact, from _sum and _count) and the chi-square homogeneity p over
    the buckets: context for people; fixed-horizon, so never a gate."""
    if bucket_bounds(baseline.buckets) != bucket_bounds(candidate.buckets):
        return None
    counts_a = cumulative_to_counts(baseline.buckets)
    counts_b = cumulative_to_counts(candidate.buckets)
    if sum(counts_a) <= 0 or sum(counts_b) <= 0:
        return None
    parts = []
    if baseline.total is not None and candidate.total is not None:
        parts.append(f"mean latency candidate {1000 * candidate.total / sum(counts_b):.4g} ms "
                     f"vs stable {1000 * baseline.total / sum(counts_a):.4g} ms")
    p_value = chi_square_homogeneity(counts_a, counts_b).p_value
    parts.append(f"bucket χ² {p_text(p_value)} (fixed-horizon, for information)")
    return "; ".join(parts)
