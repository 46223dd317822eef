"""The demo's HTML report: weights over time and per-metric estimates with their intervals, as
inline SVG (no plotting library), plus the outcome of each rollout and its Events."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

WIDTH, HEIGHT, PAD = 720, 220, 40
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@dataclass
class Sample:
    seconds: float
    rollout: str  # which act of the demo (e.g. "v2", "v3")
    candidate_weight: int
    mirror_percent: int
    phase: str
    metrics: list[dict[str, Any]] = field(default_factory=list)  # status.analysis.metrics


def _scale(values: list[float], low: float, high: float, size: float, flip: bool) -> list[float]:
    span = (high - low) or 1.0
    scaled = [(v - low) / span * (size - 2 * PAD) + PAD for v in values]
    return [size - s for s in scaled] if flip else scaled


def line_chart(title: str, series: dict[str, list[tuple[float, float]]],
               bands: dict[str, list[tuple[float, float, float]]] | None = None,
               y_range: tuple[float, float] | None = None,
               x_range: tuple[float, float] | None = None) -> str:
    """An SVG chart of named (x, y) series; `bands` draws (x, low, high) intervals behind."""
    points = [p for values in series.values() for p in values]
    band_points = [(x, lo) for b in (bands or {}).values() for x, lo, _ in b] + [
        (x, hi) for b in (bands or {}).values() for x, _, hi in b]
    if not points:
        return f"<h3>{html.escape(title)}</h3><p>no data</p>"
    xs = [x for x, _ in points + band_points]
    ys = [y for _, y in points + band_points]
    low, high = y_range or (min(ys), max(ys))
    x_low, x_high = x_range or (min(xs), max(xs))
    parts = [f'<svg width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white" stroke="#ccc"/>']
    for index, band in enumerate((bands or {}).values()):
        colour = COLOURS[index % len(COLOURS)]
        for x, lo, hi in band:
            (sx,) = _scale([x], x_low, x_high, WIDTH, flip=False)
            sy_lo, sy_hi = _scale([lo, hi], low, high, HEIGHT, flip=True)
            parts.append(f'<line x1="{sx:.1f}" y1="{sy_lo:.1f}" x2="{sx:.1f}" y2="{sy_hi:.1f}" '
                         f'stroke="{colour}" stroke-opacity="0.35" stroke-width="3"/>')
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        sxs = _scale([x for x, _ in values], x_low, x_high, WIDTH, flip=False)
        sys_ = _scale([y for _, y in values], low, high, HEIGHT, flip=True)
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(sxs, sys_, strict=True))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                     'stroke-width="2"/>')
        parts.append(f'<text x="{PAD + 150 * index}" y="16" fill="{colour}" font-size="12">'
                     f'{html.escape(name)}</text>')
    parts.append(f'<text x="4" y="{PAD}" font-size="11">{high:g}</text>')
    parts.append(f'<text x="4" y="{HEIGHT - PAD}" font-size="11">{low:g}</text>')
    parts.append(f'<text x="{WIDTH - PAD - 40}" y="{HEIGHT - 8}" font-size="11">'
                 f'{x_high:.0f}s</text></svg>')
    return f"<h3>{html.escape(title)}</h3>" + "".join(parts)


def render(samples: list[Sample], outcomes: list[dict[str, Any]],
           events: list[tuple[str, str, str]]) -> str:
    """One self-contained page: charts per act, the outcomes table and the Event timeline."""
    sections = []
    for act in dict.fromkeys(s.rollout for s in samples):
        mine = [s for s in samples if s.rollout == act]
        weights = {"candidate live %": [(s.seconds, float(s.candidate_weight)) for s in mine],
                   "candidate mirror %": [(s.seconds, float(s.mirror_percent)) for s in mine]}
        span = (mine[0].seconds, mine[-1].seconds)  # every chart of an act on one time axis
        sections.append(line_chart(f"{act}: traffic", weights, y_range=(0, 100), x_range=span))
        names = dict.fromkeys(m["name"] for s in mine for m in s.metrics)
        for name in names:
            estimates, bands = [], []
            for sample in mine:
                for metric in sample.metrics:
                    if metric["name"] == name and metric.get("estimate") is not None:
                        estimates.append((sample.seconds, float(metric["estimate"])))
                        if metric.get("lower") is not None and metric.get("upper") is not None:
                            bands.append((sample.seconds, float(metric["lower"]),
                                          float(metric["upper"])))
            sections.append(line_chart(f"{act}: {name} (candidate minus stable, with interval)",
                                       {name: estimates}, {name: bands}, x_range=span))
    rows = "".join(
        f"<tr><td>{html.escape(str(o.get('act')))}</td><td>{html.escape(str(o.get('revision')))}"
        f"</td><td>{html.escape(str(o.get('outcome')))}</td><td>{html.escape(str(o.get('reason')))}"
        f"</td><td>{html.escape(str(o.get('message')))}</td></tr>" for o in outcomes)
    timeline = "".join(f"<tr><td>{html.escape(t)}</td><td>{html.escape(r)}</td>"
                       f"<td>{html.escape(m)}</td></tr>" for t, r, m in events)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ModelRollout demo</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ddd;"
        "padding:4px 8px;font-size:13px}table{border-collapse:collapse}</style></head><body>"
        "<h1>ModelRollout demo report</h1><h2>Outcomes</h2><table><tr><th>act</th>"
        "<th>revision</th><th>outcome</th><th>reason</th><th>message</th></tr>"
        f"{rows}</table><h2>Over time</h2>{''.join(sections)}<h2>Events</h2><table>"
        f"<tr><th>time</th><th>reason</th><th>message</th></tr>{timeline}</table>"
        "</body></html>"
    )
