"""A tiny Prometheus registry with text exposition (format 0.0.4), pure and dependency-free.

The router updates these only from its batched flush, never per request on the hot path.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import TypeVar

LabelValues = tuple[str, ...]
M = TypeVar("M", bound="_Metric")
_INF = float("inf")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    """Any float as the text format writes it: NaN and infinities too (never an exception)."""
    if value != value:
        return "NaN"
    if value in (_INF, -_INF):
        return "+Inf" if value > 0 else "-Inf"
    if abs(value) < 1e15 and value == int(value):
        return str(int(value))
    return repr(value)


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self.values: dict[LabelValues, float] = {}

    def inc(self, labels: LabelValues = (), amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def get(self, labels: LabelValues = ()) -> float:
        return self.values.get(labels, 0.0)

    def render(self) -> list[str]:
        return [
            f"{self.name}{_labels(self.labelnames, k)} {_number(v)}"
            for k, v in sorted(self.values.items())
        ]


class Gauge(Counter):
    kind = "gauge"

    def set(self, labels: LabelValues, value: float) -> None:
        self.values[labels] = value

    def clear(self) -> None:
        self.values.clear()


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.bounds = tuple(sorted(buckets))
        # per label set: [counts per bound..., +Inf count], sum
        self.counts: dict[LabelValues, list[int]] = {}
        self.sums: dict[LabelValues, float] = {}

    def observe(self, labels: LabelValues, value: float) -> None:
        counts = self.counts.get(labels)
        if counts is None:
            counts = self.counts[labels] = [0] * (len(self.bounds) + 1)
            self.sums[labels] = 0.0
        counts[bisect_left(self.bounds, value)] += 1
        self.sums[labels] += value

    def count(self, labels: LabelValues) -> int:
        return sum(self.counts.get(labels, ()))

    def render(self) -> list[str]:
        lines: list[str] = []
        for labels, counts in sorted(self.counts.items()):
            cumulative = 0
            for bound, n in zip((*self.bounds, float("inf")), counts, strict=True):
                cumulative += n
                le = _number(bound)
                tag = _labels(self.labelnames, labels, 'le="' + le + '"')
                lines.append(f"{self.name}_bucket{tag} {cumulative}")
            tag = _labels(self.labelnames, labels)
            lines.append(f"{self.name}_sum{tag} {_number(self.sums[labels])}")
            lines.append(f"{self.name}_count{tag} {cumulative}")
        return lines


class Registry:
    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def add(self, metric: M) -> M:
        self.metrics.append(metric)
        return metric

    def render(self) -> bytes:
        lines: list[str] = []
        for metric in self.metrics:
            lines.extend(metric.header())
            lines.extend(metric.render())
        return ("\n".join(lines) + "\n").encode()
