"""`report`: one self-contained HTML page from what the API holds (pure; no scripts, no
external assets): the analysis over time is drawn by controller/plugin/charts.py. Callers
may append their own sections."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from controller.plugin import charts, facts
from controller.plugin.facts import Json

COLORS = {"Pass": "#1a7f37", "Fail": "#cf222e", "Inconclusive": "#9a6700", "NoData": "#6e7781",
          "Error": "#cf222e", "SampleRatioMismatch": "#cf222e", "Healthy": "#1a7f37",
          "Degraded": "#cf222e", "Paused": "#9a6700", "Progressing": "#0969da",
          "Promoted": "#1a7f37", "RolledBack": "#cf222e", "Aborted": "#cf222e",
          "Superseded": "#9a6700", "Warning": "#9a6700", "Normal": "#6e7781"}

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;
color:#1f2328}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:2rem;
border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .6rem;
border-bottom:1px solid #eaeef2;vertical-align:top}th{background:#f6f8fa}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;color:#fff;font-size:.85rem}
.muted{color:#6e7781}.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.bar{display:inline-block;width:220px;height:12px;background:#ddf4ff;border-radius:3px;
vertical-align:middle;overflow:hidden}.bar span{display:block;height:100%;background:#0969da}
.timeline{list-style:none;padding-left:1rem;border-left:2px solid #d0d7de}
.timeline li{margin:.4rem 0}figure.chart{margin:.5rem 0}
figure.chart svg{max-width:100%;height:auto}
pre{background:#f6f8fa;padding:1rem;overflow:auto;font-size:12px}
"""


@dataclass(frozen=True)
class Section:
    """Extra content from the caller: `html` is trusted and inserted as is."""

    title: str
    html: str


def badge(text: str) -> str:
    color = COLORS.get(text, "#6e7781")
    return f'<span class="badge" style="background:{color}">{escape(text)}</span>'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """`rows` hold HTML already escaped by the caller; no header: a key/value table."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def render_report(rollout: Json, events: Sequence[Json] | None, now: datetime,
                  extra: Sequence[Section] = ()) -> str:
    meta, status = rollout.get("metadata") or {}, facts.status_of(rollout)
    title = f"ModelRollout {meta.get('namespace', '?')}/{meta.get('name', '?')}"
    parts = [
        f"<h1>{escape(title)} {badge(status.get('phase') or 'no status')}</h1>",
        f'<p class="muted">Report generated {escape(now.isoformat(timespec="seconds"))} from '
        f"the Kubernetes API (resourceVersion {escape(str(meta.get('resourceVersion', '?')))})."
        "</p>",
        _summary(rollout),
        _conditions(status, now),
        _analysis(status, now),
        _shadows(status, now),
        "<h2>Analysis over time</h2>" + charts.history_html(rollout),
        _history(status),
        _events(events, now),
        *(f"<h2>{escape(s.title)}</h2>{s.html}" for s in extra),
        "<h2>Raw status</h2><details><summary>status as JSON</summary><pre>"
        f"{escape(json.dumps(status, indent=2, sort_keys=True))}</pre></details>",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(p for p in parts if p) + "\n</body></html>\n")


def _summary(rollout: Json) -> str:
    status = facts.status_of(rollout)
    step = facts.step_info(rollout)
    stable, candidate = facts.weights(status)
    mirrors = ", ".join(f"{v} {p}%" for v, p in facts.mirrors(status)) or "none"
    rows = [
        ("Strategy", escape(facts.strategy_name(rollout))),
        ("Stable revision", escape(status.get("stableRevision") or "-")),
        ("Candidate revision", escape(status.get("candidateRevision") or "-")),
        ("Rejected revision", escape(status.get("rejectedRevision") or "-")),
        ("Step", escape(f"{step.number}/{step.total}: {step.text}" if step else
                        "no rollout in progress")),
        ("Live traffic", f'<span class="bar"><span style="width:{candidate}%"></span></span> '
                         f"candidate {candidate}% / stable {stable}%"),
        ("Mirrors", escape(mirrors)),
        ("Last command", escape(status.get("lastCommand") or "-")),
        ("Message", escape(status.get("message") or "-")),
    ]
    return "<h2>Summary</h2>" + _table([], [[f"<b>{k}</b>", v] for k, v in rows])


def _conditions(status: Json, now: datetime) -> str:
    rows = [[escape(c.get("type", "")), escape(c.get("status", "")),
             escape(c.get("reason", "")), escape(facts.age(c.get("lastTransitionTime"), now)),
             escape(c.get("message", ""))] for c in facts.conditions(status)]
    if not rows:
        return "<h2>Conditions</h2><p>The operator has not reported a status yet.</p>"
    return "<h2>Conditions</h2>" + _table(["Type", "Status", "Reason", "Age", "Message"], rows)


def _analysis(status: Json, now: datetime) -> str:
    analysis = status.get("analysis")
    if not analysis:
        return "<h2>Analysis</h2><p>No analysis has run for this rollout.</p>"
    head = (f"<p>Verdict {badge(analysis.get('verdict', '-'))}, updated "
            f"{escape(facts.age(analysis.get('updatedAt'), now))} ago")
    if analysis.get("sampleRatioPValue") is not None:
        head += f"; sample ratio p = {escape(facts.p_value(analysis['sampleRatioPValue']))}"
    rows = []
    for metric in analysis.get("metrics") or []:
        stable_n, candidate_n = facts.samples(metric)
        numbers = [facts.count(stable_n), facts.count(candidate_n),
                   facts.number(metric.get("estimate"), True),
                   facts.interval(metric.get("lower"), metric.get("upper")),
                   facts.p_value(metric.get("pValue")), facts.count(metric.get("samplesNeeded"))]
        rows.append([escape(metric.get("name", "?")), badge(metric.get("verdict", "-")),
                     *(f'<span class="num">{escape(n)}</span>' for n in numbers),
                     escape(metric.get("reason", ""))])
    header = ["Metric", "Verdict", "n stable", "n candidate", "Estimate", "Interval",
              "p-value", "Samples needed", "Reason"]
    return "<h2>Analysis</h2>" + head + "</p>" + _table(header, rows)


def _shadows(status: Json, now: datetime) -> str:
    """Each long-lived shadow's verdict at the last analysis look, metric by metric."""
    shadows = status.get("shadows") or []
    if not shadows:
        return ""
    rows = []
    for shadow in shadows:
        gate = "gates the rollout" if shadow.get("gates") else "reported only"
        lead = [f"<b>{escape(shadow.get('name', '?'))}</b>", badge(shadow.get("verdict", "-")),
                escape(f"{gate}; {facts.age(shadow.get('updatedAt'), now)} ago")]
        for metric in shadow.get("metrics") or [{}]:
            stable_n, shadow_n = facts.samples(metric)
            numbers = [facts.count(stable_n), facts.count(shadow_n),
                       facts.number(metric.get("estimate"), True),
                       facts.interval(metric.get("lower"), metric.get("upper"))]
            rows.append([*lead, escape(metric.get("name", "-")), badge(metric.get("verdict", "-")),
                         *(f'<span class="num">{escape(n)}</span>' for n in numbers),
                         escape(metric.get("reason") or shadow.get("message", ""))])
            lead = ["", "", ""]
    header = ["Shadow", "Verdict", "Gate", "Metric", "Metric verdict", "n stable", "n shadow",
              "Estimate", "Interval", "Reason"]
    return ("<h2>Shadows</h2><p>Long-lived shadows judged as shadows on the stable's "
            "requests, at the last analysis look.</p>" + _table(header, rows))


def _history(status: Json) -> str:
    history = status.get("history") or []
    if not history:
        return "<h2>History</h2><p>No finished rollouts yet.</p>"
    rows = [[escape(h.get("finishedAt", "")), escape(h.get("revision", "")),
             badge(h.get("outcome", "?")), escape(h.get("reason", "")),
             escape(h.get("message", ""))] for h in reversed(history)]
    return "<h2>History</h2>" + _table(["Finished", "Revision", "Outcome", "Reason", "Message"],
                                       rows)


def _events(events: Sequence[Json] | None, now: datetime) -> str:
    if events is None:
        return "<h2>Events</h2><p>Events could not be read with these credentials.</p>"
    if not events:
        return "<h2>Events</h2><p>No Events (the API server keeps them for an hour).</p>"
    items = []
    for event in facts.sorted_events(list(events)):
        when = facts.event_time(event) or ""
        count = event.get("count") or 1
        repeated = f" <span class=\"muted\">(x{count})</span>" if count > 1 else ""
        items.append(
            f"<li><span class=\"num muted\">{escape(when)} ({escape(facts.age(when, now))} ago)"
            f"</span> {badge(event.get('type', 'Normal'))} <b>{escape(event.get('reason', ''))}"
            f"</b> {escape(event.get('message', ''))}{repeated}</li>")
    return "<h2>Events</h2><ul class=\"timeline\">" + "".join(items) + "</ul>"
