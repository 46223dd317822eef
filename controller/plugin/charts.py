"""The analysis over time, drawn with matplotlib (Agg, no pyplot state) as inline SVG.

Input is the API's plain dicts: `status.analysisHistory` (the looks of each analysed step,
see controller/rollout/looks.py), else the one look in `status.analysis`. For each step:
one plot per metric (estimate, confidence band, zero and tolerance lines), the samples per
variant, and the live weight and mirror percentages. A step with one look is drawn as points
with error bars. Used by `kubectl modelrollout report` and by the demo's report.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

Json = dict[str, Any]
COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#6e7781")
VERDICT_COLOURS = {"Pass": "#1a7f37", "Fail": "#cf222e", "Inconclusive": "#9a6700"}
RC: dict[Any, Any] = {"svg.fonttype": "none", "svg.hashsalt": "modelrollout", "font.size": 9,
      "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
      "grid.color": "#eaeef2", "legend.frameon": False, "legend.fontsize": 8}
SIZE = (7.6, 2.5)  # inches


@dataclass(frozen=True)
class Plot:
    title: str
    svg: str


@dataclass(frozen=True)
class Units:
    """How a metric's difference (candidate minus stable) is shown."""

    scale: float  # display units per metric unit
    label: str  # the y axis title's unit
    suffix: str  # after each tick value
    tolerance: float | None  # the worse side's margin, in display units; None: not drawn


def units(metric_spec: Json | None) -> Units:
    """Points for rates and shares (every template, custom ratios); the metric's own units
    for custom value queries, whose tolerance is relative to the stable's mean (not drawn)."""
    spec = metric_spec or {}
    query = spec.get("query") or {}
    tolerance_bp = int(spec.get("toleranceBasisPoints") or 0)
    if query.get("value"):
        return Units(1.0, "metric units", "", None)
    direction = spec.get("direction") or {
        "latencyOver": "LowerIsBetter", "latencyShift": "LowerIsBetter",
        "errorRate": "LowerIsBetter"}.get(spec.get("template") or "", "HigherIsBetter")
    sign = 1.0 if direction == "LowerIsBetter" else -1.0
    return Units(100.0, "percentage points", " pts", sign * tolerance_bp / 100)


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _decimals(ticks: Sequence[float]) -> int:
    """The fewest decimals that show every tick value exactly (0.25 needs 2, 10 needs 0)."""
    for decimals in range(7):
        if all(abs(round(t, decimals) - t) < 1e-9 * max(1.0, abs(t)) for t in ticks):
            return decimals
    return 6


def _ticks(ax: Axes, suffix: str, signed: bool, thousands: bool = False) -> None:
    """Tick labels as numbers people read: as many decimals as the tick spacing needs."""
    locator = ax.yaxis.get_major_locator()

    def fmt(value: float, _: int | None) -> str:
        if thousands:
            return f"{value:,.0f}{suffix}"
        decimals = _decimals(list(locator()))
        if abs(value) < 10 ** -(decimals + 1):
            value = 0.0
        text = f"{value:+.{decimals}f}" if signed and value else f"{value:.{decimals}f}"
        return text + suffix

    ax.yaxis.set_major_formatter(FuncFormatter(fmt))


@dataclass(frozen=True)
class Span:
    seconds: float  # from the step's first look to its last
    first: str  # the first look's time

    @property
    def single(self) -> bool:
        return self.seconds <= 0


def _time_axis(ax: Axes, span: Span) -> Callable[[float], float]:
    """Seconds (or minutes for long steps) since the step's first look; one look: its time."""
    if span.single:
        ax.set_xlim(-1, 1)
        ax.set_xticks([0], [span.first])
        ax.set_xlabel("time of the step's only look (UTC)")
        return lambda s: s
    if span.seconds > 600:
        ax.set_xlabel("minutes since the step's first look")
        return lambda s: s / 60
    ax.set_xlabel("seconds since the step's first look")
    return lambda s: s


def _svg(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    out = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg"):]  # no XML declaration or DOCTYPE inside HTML


def _figure() -> tuple[Figure, Axes]:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=SIZE)
        ax = fig.add_subplot()
    return fig, ax


def _legend(ax: Axes) -> None:
    with matplotlib.rc_context(RC):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


def metric_plot(name: str, looks: Sequence[Json], times: Sequence[float], spec: Json | None,
                span: Span) -> Plot | None:
    unit = units(spec)
    rows = [(t, m) for t, look in zip(times, looks, strict=True)
            for m in look.get("metrics") or [] if m.get("name") == name
            and m.get("estimate") is not None]
    if not rows:
        return None
    fig, ax = _figure()
    x = _time_axis(ax, span)
    xs = [x(t) for t, _ in rows]
    est = [unit.scale * float(m["estimate"]) for _, m in rows]
    low = [unit.scale * float(m.get("lower", m["estimate"])) for _, m in rows]
    high = [unit.scale * float(m.get("upper", m["estimate"])) for _, m in rows]
    ax.axhline(0, color="#57606a", linewidth=1, linestyle="--", label="no difference (0)")
    if unit.tolerance:
        ax.axhline(unit.tolerance, color="#cf222e", linewidth=1, linestyle=":",
                   label=f"tolerance ({unit.tolerance:+g}{unit.suffix})")
    if len(rows) == 1:
        ax.errorbar(xs, est, yerr=[[est[0] - low[0]], [high[0] - est[0]]], fmt="o",
                    color=COLOURS[0], capsize=5, label="estimate, confidence interval")
    else:
        ax.fill_between(xs, low, high, color=COLOURS[0], alpha=0.18, linewidth=0,
                        label="confidence interval")
        ax.plot(xs, est, color=COLOURS[0], marker="o", markersize=3, label="estimate")
    for xv, yv, (_, m) in zip(xs, est, rows, strict=True):  # the verdict at each look
        ax.plot([xv], [yv], marker="o", markersize=4, linestyle="none",
                color=VERDICT_COLOURS.get(m.get("verdict", ""), "#6e7781"))
    what = "agreement minus perfect agreement" if (spec or {}).get(
        "template") == "shadowAgreement" else "candidate minus stable"
    ax.set_ylabel(f"{what}\n({unit.label})")
    _ticks(ax, unit.suffix, signed=True)
    last = rows[-1][1]
    title = f"{name}: {what}, last verdict {last.get('verdict', '?')}"
    ax.set_title(title, loc="left", fontsize=10)
    _legend(ax)
    return Plot(title, _svg(fig))


def samples_plot(looks: Sequence[Json], times: Sequence[float], span: Span) -> Plot:
    fig, ax = _figure()
    x = _time_axis(ax, span)
    names = list(dict.fromkeys(m.get("name", "?") for look in looks
                               for m in look.get("metrics") or []))
    for i, name in enumerate(names):
        colour = COLOURS[i % len(COLOURS)]
        for variant, style in (("stable", "--"), ("candidate", "-")):
            points = [(x(t), int((m.get("samples") or {}).get(variant, 0)))
                      for t, look in zip(times, looks, strict=True)
                      for m in look.get("metrics") or [] if m.get("name") == name]
            if not any(n for _, n in points):
                continue  # no such arm (agreement has no stable arm)
            ax.plot([p for p, _ in points], [n for _, n in points], linestyle=style,
                    marker="o", markersize=3, color=colour, label=f"{name}, {variant}")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("samples per variant\n(requests, comparisons, labels)")
    _ticks(ax, "", signed=False, thousands=True)
    ax.set_title("Samples per variant", loc="left", fontsize=10)
    if names:
        _legend(ax)
    return Plot("Samples per variant", _svg(fig))


def coverage_plot(looks: Sequence[Json], times: Sequence[float], span: Span) -> Plot | None:
    """Labels received / predictions served per variant (feedbackAccuracy metrics)."""
    rows: dict[tuple[str, str], list[tuple[float, float, int, int]]] = {}
    for t, look in zip(times, looks, strict=True):
        for m in look.get("metrics") or []:
            coverage = m.get("labelCoverage")
            if not coverage:
                continue
            for variant in ("stable", "candidate"):
                labels = int((coverage.get("labels") or {}).get(variant, 0))
                served = int((coverage.get("predictions") or {}).get(variant, 0))
                if served:
                    rows.setdefault((m.get("name", "?"), variant), []).append(
                        (t, 100.0 * labels / served, labels, served))
    if not rows:
        return None
    fig, ax = _figure()
    x = _time_axis(ax, span)
    for i, ((name, variant), points) in enumerate(rows.items()):
        last = points[-1]
        ax.plot([x(p[0]) for p in points], [p[1] for p in points],
                linestyle="-" if variant == "candidate" else "--", marker="o", markersize=3,
                color=COLOURS[(i // 2) % len(COLOURS)],
                label=f"{name}, {variant}: {last[2]:,} of {last[3]:,}")
    ax.set_ylim(0, 105)
    ax.set_ylabel("labels received / predictions served\n(%)")
    _ticks(ax, "%", signed=False)
    ax.set_title("Label coverage per variant", loc="left", fontsize=10)
    _legend(ax)
    return Plot("Label coverage per variant", _svg(fig))


def traffic_plot(looks: Sequence[Json], times: Sequence[float], span: Span) -> Plot:
    fig, ax = _figure()
    x = _time_axis(ax, span)
    xs = [x(t) for t in times]
    series = {"candidate live weight": [float(look.get("candidateWeight", 0)) for look in looks]}
    variants = dict.fromkeys(m.get("variant", "?") for look in looks
                             for m in look.get("mirrors") or [])
    for variant in variants:
        series[f"mirror to {variant}"] = [
            float(next((m.get("percent", 0) for m in look.get("mirrors") or []
                        if m.get("variant") == variant), 0)) for look in looks]
    for i, (label, values) in enumerate(series.items()):
        ax.plot(xs, values, marker="o", markersize=3, drawstyle="steps-post",
                color=COLOURS[i % len(COLOURS)], label=label)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("share of requests\n(percent)")
    _ticks(ax, "%", signed=False)
    ax.set_title("Live weight and mirrors", loc="left", fontsize=10)
    _legend(ax)
    return Plot("Live weight and mirrors", _svg(fig))


def steps_of(status: Json) -> list[Json]:
    """status.analysisHistory; an older operator's status: its one look as a step."""
    history = status.get("analysisHistory") or []
    if history:
        return list(history)
    analysis = status.get("analysis")
    if not analysis or not analysis.get("updatedAt"):
        return []
    traffic = status.get("traffic") or {}
    look = {"at": analysis["updatedAt"], "verdict": analysis.get("verdict"),
            "candidateWeight": traffic.get("candidateWeight", 0),
            "mirrors": traffic.get("mirrors") or [], "metrics": analysis.get("metrics") or []}
    return [{"index": status.get("currentStepIndex") or 0, "step": "last look only",
             "looks": [look]}]


def step_plots(step: Json, metric_specs: dict[str, Json]) -> list[Plot]:
    looks = [look for look in step.get("looks") or [] if look.get("at")]
    if not looks:
        return []
    start = _seconds(looks[0]["at"])
    times = [_seconds(look["at"]) - start for look in looks]
    span = Span(times[-1], looks[0]["at"])
    names = dict.fromkeys(m.get("name", "?") for look in looks
                          for m in look.get("metrics") or [])
    plots = [metric_plot(name, looks, times, metric_specs.get(name), span) for name in names]
    plots.append(coverage_plot(looks, times, span))
    return [*(p for p in plots if p is not None), samples_plot(looks, times, span),
            traffic_plot(looks, times, span)]


def history_html(rollout: Json) -> str:
    """Every analysed step of the rollout's current (or last) rollout, its plots inline."""
    status = rollout.get("status") or {}
    specs = {m.get("name", ""): m for m in
             ((rollout.get("spec") or {}).get("analysis") or {}).get("metrics") or []}
    parts = []
    for step in steps_of(status):
        looks = step.get("looks") or []
        first, last = (looks[0].get("at", "?"), looks[-1].get("at", "?")) if looks else ("", "")
        parts.append(f"<h3>Step {int(step.get('index', 0)) + 1}: "
                     f"{escape(str(step.get('step', '')))}</h3><p class=\"muted\">"
                     f"{len(looks)} look(s) kept, {escape(first)} to {escape(last)}; a dot's "
                     "colour is that look's verdict (green Pass, amber Inconclusive, red "
                     "Fail)</p>")
        parts.extend(f'<figure class="chart" aria-label="{escape(p.title)}">{p.svg}</figure>'
                     for p in step_plots(step, specs))
    if not parts:
        return "<p>No analysis has looked at this rollout yet.</p>"
    return "".join(parts)


def svg_count(html: str) -> int:
    return len(re.findall(r"<svg\b", html))
