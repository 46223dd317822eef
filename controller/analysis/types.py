"""Frozen value types shared by the analysis engine.

Conventions used everywhere in controller.analysis:
- variant A is the baseline (stable model), variant B the candidate (canary);
- an ``estimate`` is always candidate minus baseline (B - A) in the metric's own units;
- numbers in results are floats, inputs may be ints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Alternative = Literal["two-sided", "greater", "less"]
"""H1 for the difference B - A: "greater" means the candidate's value is larger."""


@dataclass(frozen=True, slots=True)
class StatResult:
    """Outcome of one statistical comparison of baseline (A) and candidate (B).

    ``ci_low``/``ci_high`` are None when no interval is defined for the test (for example
    a chi-square shift test, or a sequential test before it has any information).
    """

    test: str
    n_a: float
    n_b: float
    estimate: float
    ci_low: float | None
    ci_high: float | None
    p_value: float
    statistic: float
    df: float | None = None

    def __post_init__(self) -> None:
        # Inputs may be ints or numpy scalars; results are plain floats (JSON-friendly).
        for name in ("n_a", "n_b", "estimate", "p_value", "statistic"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("ci_low", "ci_high", "df"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Sample-ratio-mismatch check of observed per-variant counts against the split."""

    statistic: float
    p_value: float
    df: float
    observed: tuple[float, ...]
    expected: tuple[float, ...]
    threshold: float
    mismatch: bool


class MetricKind(StrEnum):
    PROPORTION = "proportion"  # successes / trials (e.g. errors / requests)
    HISTOGRAM = "histogram"  # cumulative latency buckets; judged as share slower than T
    MEAN = "mean"  # count, sum, sum of squares
    QUANTILE = "quantile"  # cumulative latency buckets; judged on the ratio of a quantile


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class Role(StrEnum):
    GUARDRAIL = "guardrail"  # fails the rollout when significantly worse
    SUCCESS = "success"  # must show its goal (non-inferior or better) before promotion


class Goal(StrEnum):
    """What a success metric must show before a pass."""

    NOT_WORSE = "not_worse"  # non-inferior: not worse than stable by more than the tolerance
    IMPROVE = "improve"  # superior: better than stable (by more than 0)


class MetricVerdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class OverallVerdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    SRM = "srm"  # traffic split is wrong: comparisons are not trusted, never promote


@dataclass(frozen=True, slots=True)
class ProportionObservation:
    successes: int
    trials: int

    def __post_init__(self) -> None:
        if self.trials < 0 or self.successes < 0:
            raise ValueError("successes and trials must be >= 0")
        if self.successes > self.trials:
            raise ValueError(f"successes ({self.successes}) must not exceed trials ({self.trials})")


@dataclass(frozen=True, slots=True)
class HistogramObservation:
    """Classic Prometheus buckets: (upper bound, cumulative count), +Inf bucket included."""

    buckets: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class MeanObservation:
    """What Prometheus can give for a mean: count, sum and sum of squares."""

    count: float
    total: float
    sum_squares: float


@dataclass(frozen=True, slots=True)
class UnitBucketedObservation:
    """A ratio metric (successes / trials) split into K hashed unit buckets: with sticky
    assignment each bucket's totals are independent draws, so its variance is estimated
    across buckets (controller.analysis.clustered), not across requests."""

    successes: tuple[float, ...]
    trials: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.successes) != len(self.trials):
            raise ValueError("successes and trials must have one entry per unit bucket")
        for s, t in zip(self.successes, self.trials, strict=True):
            if not (math.isfinite(s) and math.isfinite(t)) or s < 0 or t < 0 or s > t:
                raise ValueError("each unit bucket needs 0 <= successes <= trials (finite)")

    @property
    def totals(self) -> ProportionObservation:
        return ProportionObservation(round(sum(self.successes)), round(sum(self.trials)))


VariantObservation = (ProportionObservation | HistogramObservation | MeanObservation
                      | UnitBucketedObservation)


@dataclass(frozen=True, slots=True)
class MetricObservations:
    """Cumulative observations for one metric since the analysis started; None = missing."""

    name: str
    baseline: VariantObservation | None
    candidate: VariantObservation | None


@dataclass(frozen=True, slots=True)
class MetricConfig:
    """How one metric is judged.

    ``tolerance`` is the non-inferiority margin in the metric's units (absolute, >= 0): a
    candidate worse than baseline by no more than this is acceptable. A success metric with
    tolerance 0 is a superiority test: it passes only when the candidate is shown better.
    ``planned_samples`` and ``min_samples`` count candidate samples (trials, requests or
    observations).
    ``min_effect`` is the harm (absolute, > tolerance) the test should detect with 80 %
    power; when set, a pass also waits until the sample is large enough to detect it.
    ``threshold`` is the SLO bucket boundary T for histogram metrics. ``goal`` is what a
    success metric must show: non-inferiority within ``tolerance``, or superiority (then
    ``min_effect`` is the improvement the sample is sized to detect). ``bounds`` is the
    range B - A can take (None: from the kind, [-1, 1] for proportions and histogram
    shares, unbounded for means); intervals are clipped to it.
    """

    name: str
    kind: MetricKind
    direction: Direction
    role: Role = Role.GUARDRAIL
    tolerance: float = 0.0
    alpha: float = 0.05
    min_samples: int = 100
    planned_samples: int = 1000
    min_effect: float | None = None
    threshold: float | None = None
    bounds: tuple[float, float] | None = None
    goal: Goal = Goal.NOT_WORSE
    relative_tolerance: float | None = None
    quantile: float | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name must not be empty")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"tolerance must be a finite number >= 0, got {self.tolerance}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if self.planned_samples < self.min_samples:
            raise ValueError("planned_samples must be >= min_samples")
        if self.min_effect is not None and not self.min_effect > self.tolerance:
            raise ValueError("min_effect must be greater than tolerance")
        if self.goal is Goal.IMPROVE and self.role is not Role.SUCCESS:
            raise ValueError("goal improve is only for a success metric")
        if self.kind is MetricKind.HISTOGRAM and self.threshold is None:
            raise ValueError("a histogram metric needs threshold (the SLO bucket boundary)")
        if self.kind is MetricKind.HISTOGRAM and self.direction is Direction.HIGHER_IS_BETTER:
            raise ValueError("a histogram metric is judged by its share slower than threshold, "
                             "so direction must be lower_is_better")
        if self.relative_tolerance is not None and not 0 <= self.relative_tolerance < 1:
            raise ValueError("relative_tolerance must be in [0, 1)")
        if self.relative_tolerance is not None and self.tolerance > 0:
            raise ValueError("set tolerance or relative_tolerance, not both")
        if (self.kind is MetricKind.QUANTILE) != (self.quantile is not None):
            raise ValueError("a quantile metric needs quantile (and only it has one)")
        if self.quantile is not None and not 0 < self.quantile < 1:
            raise ValueError(f"quantile must be in (0, 1), got {self.quantile}")
        if self.bounds is not None and not self.bounds[0] <= 0 <= self.bounds[1]:
            raise ValueError(f"bounds must contain 0 (no difference), got {self.bounds}")

    @property
    def value_range(self) -> tuple[float, float]:
        """The range of B - A in the metric's units: where an interval is clipped."""
        if self.bounds is not None:
            return self.bounds
        if self.kind in (MetricKind.MEAN, MetricKind.QUANTILE):
            return -math.inf, math.inf
        return -1.0, 1.0


@dataclass(frozen=True, slots=True)
class SplitObservation:
    """Observed per-variant request totals (None = missing) and configured integer weights."""

    observed: tuple[int, ...] | None
    weights: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AnalysisPolicy:
    srm_threshold: float = 0.001
    missing_data_limit: int = 3
    on_missing_data: Literal["hold", "rollback"] = "hold"

    def __post_init__(self) -> None:
        if not 0 < self.srm_threshold < 1:
            raise ValueError(f"srm_threshold must be in (0, 1), got {self.srm_threshold}")
        if self.missing_data_limit < 0:
            raise ValueError("missing_data_limit must be >= 0")


@dataclass(frozen=True, slots=True)
class AnalysisState:
    """Everything carried from one look to the next (treat the mapping as read-only).

    ``min_p_values`` holds each metric's running minimum always-valid p-value;
    ``missing_data_looks`` counts consecutive looks where some observation was missing.
    """

    min_p_values: Mapping[str, float] = field(default_factory=dict)
    missing_data_looks: int = 0

    def __post_init__(self) -> None:
        if self.missing_data_looks < 0:
            raise ValueError("missing_data_looks must be >= 0")
        for name, p in self.min_p_values.items():
            if not 0 <= p <= 1:
                raise ValueError(f"min_p_values[{name!r}] must be in [0, 1], got {p}")


@dataclass(frozen=True, slots=True)
class MetricJudgement:
    name: str
    role: Role
    verdict: MetricVerdict
    n_baseline: float
    n_candidate: float
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    # always-valid, one-sided: harm for guardrails, non-inferiority or superiority (goal)
    # for success metrics
    p_value: float | None
    adjusted_p_value: float | None  # Holm across guardrails; same as p_value for success
    samples_needed: float  # more candidate samples before this metric can pass
    reason: str
    shift_p_value: float | None = None  # histogram only: chi-square distribution shift
    ci_level: float | None = None  # coverage of [ci_low, ci_high] at every look (1 - 2 alpha)
    # candidate / stable - 1 and its delta-method interval at the same level (None when the
    # stable's level is not positive, or the metric has no level: the latency shift)
    lift: float | None = None
    lift_low: float | None = None
    lift_high: float | None = None
    unit_buckets: int | None = None  # variance from this many unit buckets (None: requests)
    # Compared, but too few observations for an estimate (a quantile below its floor): no
    # estimate, yet not missing data either.
    not_estimated: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: OverallVerdict
    reason: str
    metrics: tuple[MetricJudgement, ...]
    srm: SrmResult | None
    missing: tuple[str, ...]
    state: AnalysisState
