"""The metric-provider seam: per-variant observations of one metric over one window.

A provider answers three shapes of question about one variant over [start, end]:

- ``counts``: successes and trials (errors / requests, agree / compared, ...);
- ``histogram``: cumulative bucket counts (and optionally the sum of observed values);
- ``summary``: count, sum and sum of squares of a value.

Queries are PromQL text with the placeholders ``{{variant}}`` and ``{{window}}`` (the
window's length, e.g. ``93s``); the provider substitutes both. Three outcomes are kept
apart and never turned into zeros: a value; ``Empty`` (the query ran and matched no
series); and ``ProviderError`` (the query failed, timed out, or the provider is
unreachable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

VARIANT = "{{variant}}"
WINDOW = "{{window}}"
ErrorKind = Literal["query", "timeout", "unreachable"]


@dataclass(frozen=True, slots=True)
class Window:
    """The step's window: counts are increases over it, evaluated at ``end``."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return max(int((self.end - self.start).total_seconds()), 0)

    @property
    def duration(self) -> str:
        return f"{self.seconds}s"


def render_query(query: str, variant: str, window: Window) -> str:
    return query.replace(VARIANT, variant).replace(WINDOW, window.duration)


# --- questions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountsQuery:
    """Each query gives one number: a count over the window (successes <= trials).
    Without ``successes`` only the trials are wanted (e.g. requests for the SRM check)."""

    metric: str
    successes: str | None
    trials: str
    # True only where no series provably means no event (the router's labelled counters).
    empty_successes_are_zero: bool = False
    # The queries group by the router's unit bucket (sum by (unit_bucket)): one series each.
    by_unit: bool = False


@dataclass(frozen=True, slots=True)
class HistogramQuery:
    """``buckets`` gives one series per ``le`` label; ``total`` (optional) the sum."""

    metric: str
    buckets: str
    total: str | None = None
    by_unit: bool = False  # ``buckets`` groups by (le, unit_bucket)


@dataclass(frozen=True, slots=True)
class SummaryQuery:
    """``value`` is evaluated every ``step_seconds`` across the window; each point is a
    sample (the value form of a custom metric)."""

    metric: str
    value: str
    step_seconds: int = 15


# --- answers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    """Counts as Prometheus gives them: increase() extrapolates, so they may be fractional."""

    successes: float
    trials: float
    # by_unit queries: (successes, trials) per unit bucket, in bucket order
    per_unit: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class BucketCounts:
    """Cumulative (upper bound, count) pairs, +Inf included; ``total`` = sum of values."""

    buckets: tuple[tuple[float, float], ...]
    total: float | None = None
    # by_unit queries: each unit bucket's cumulative buckets (``buckets`` is their sum)
    per_unit: tuple[tuple[tuple[float, float], ...], ...] | None = None

    @property
    def count(self) -> float:
        return max((c for _, c in self.buckets), default=0.0)


@dataclass(frozen=True, slots=True)
class Summary:
    count: float
    total: float
    sum_squares: float


@dataclass(frozen=True, slots=True)
class Empty:
    """The query ran and matched nothing (or nothing usable): missing data, never zero."""

    query: str
    why: str = "no series"

    def describe(self) -> str:
        return f"{self.why} for {self.query}"


class ProviderError(Exception):
    """The provider could not answer: a failed query, a timeout or no connection."""

    def __init__(self, kind: ErrorKind, query: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail} (query: {query})")
        self.kind: ErrorKind = kind
        self.query = query
        self.detail = detail

    def describe(self) -> str:
        what = {"query": "query failed", "timeout": "timed out",
                "unreachable": "Prometheus unreachable"}[self.kind]
        return f"{what}: {self.detail}"


class MetricProvider(Protocol):
    def counts(self, query: CountsQuery, variant: str, window: Window) -> Counts | Empty:
        """Successes and trials of ``variant`` over ``window``."""

    def histogram(self, query: HistogramQuery, variant: str, window: Window
                  ) -> BucketCounts | Empty:
        """Cumulative bucket counts of ``variant`` over ``window``."""

    def summary(self, query: SummaryQuery, variant: str, window: Window) -> Summary | Empty:
        """Count, sum and sum of squares of ``variant``'s value over ``window``."""


def summarise(values: list[float]) -> Summary:
    finite = [v for v in values if math.isfinite(v)]
    return Summary(float(len(finite)), math.fsum(finite), math.fsum(v * v for v in finite))
