"""The terminal views: `list` and `status` as pure functions of API objects and the time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from controller.plugin import facts
from controller.plugin.facts import Json
from controller.plugin.text import (
    OUTCOME_STYLE,
    PHASE_STYLE,
    VERDICT_STYLE,
    Cell,
    Style,
    bar,
    condition_style,
    table,
)

PLAIN = Style(color=False)
EVENTS_SHOWN = 8


def render_list(rollouts: Sequence[Json], now: datetime, all_namespaces: bool,
                namespace: str, style: Style = PLAIN) -> str:
    if not rollouts:
        where = "any namespace" if all_namespaces else f"namespace {namespace}"
        return f"No modelrollouts found in {where}."
    header = ["NAME", "PHASE", "STABLE", "CANDIDATE", "WEIGHT", "STEP", "ANALYSIS", "AGE"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = [_list_row(r, now, all_namespaces) for r in rollouts]
    return "\n".join(table(header, rows, style, indent=""))


def _list_row(rollout: Json, now: datetime, all_namespaces: bool) -> list[Cell | str]:
    meta, status = rollout.get("metadata") or {}, facts.status_of(rollout)
    step = facts.step_info(rollout)
    phase = status.get("phase") or "-"
    verdict = (status.get("analysis") or {}).get("verdict") or "-"
    row: list[Cell | str] = [
        meta.get("name", "?"), Cell(phase, PHASE_STYLE.get(phase)),
        status.get("stableRevision") or "-", status.get("candidateRevision") or "-",
        f"{facts.weights(status)[1]}%" if step else "-",
        f"{step.number}/{step.total}" if step else "-",
        Cell(verdict, VERDICT_STYLE.get(verdict)),
        facts.age(meta.get("creationTimestamp"), now),
    ]
    if all_namespaces:
        row.insert(0, meta.get("namespace", "?"))
    return row


def render_status(rollout: Json, events: Sequence[Json] | None, now: datetime,
                  style: Style = PLAIN) -> str:
    """The live view; `events` None means they could not be read (shown as such)."""
    status = facts.status_of(rollout)
    sections = [_summary(rollout, now, style)]
    if not status:
        sections.append("  The operator has not reported a status yet (is it running?).")
    else:
        sections.append(_conditions(status, now, style))
        sections.append(_analysis(status, now, style))
        sections.append(_history(status, now, style))
    sections.append(_events(events, now, style))
    return "\n\n".join(s for s in sections if s) + "\n"


def _summary(rollout: Json, now: datetime, style: Style) -> str:
    meta, status = rollout.get("metadata") or {}, facts.status_of(rollout)
    phase = status.get("phase") or "-"
    observed = status.get("observedGeneration")
    lines = [
        style.paint(f"ModelRollout {meta.get('namespace', '?')}/{meta.get('name', '?')}", "bold")
        + f"  ({facts.strategy_name(rollout)}, generation {meta.get('generation', '?')}, "
        f"observed {observed if observed is not None else '-'}, age "
        f"{facts.age(meta.get('creationTimestamp'), now)})",
        f"  Phase:      {style.paint(phase, PHASE_STYLE.get(phase))}"
        + (f"  {status['message']}" if status.get("message") else ""),
        f"  Revisions:  stable {status.get('stableRevision') or '-'}  "
        f"candidate {status.get('candidateRevision') or '-'}  "
        f"rejected {status.get('rejectedRevision') or '-'}",
        f"  Step:       {_step_line(rollout, now)}",
        f"  Traffic:    {_traffic_line(status)}",
    ]
    if status.get("lastCommand") or status.get("pausedByUser"):
        paused = "  (paused by user)" if status.get("pausedByUser") else ""
        lines.append(f"  Command:    last acted on {status.get('lastCommand') or '-'}{paused}")
    return "\n".join(lines)


def _step_line(rollout: Json, now: datetime) -> str:
    step = facts.step_info(rollout)
    if step is None:
        return "- (no rollout in progress)"
    started = facts.status_of(rollout).get("stepStartedAt")
    running = f"  (for {facts.age(started, now)})" if started else ""
    return f"{step.number}/{step.total}  {step.text}{running}"


def _traffic_line(status: Json) -> str:
    stable, candidate = facts.weights(status)
    line = f"stable {stable}%  candidate {candidate}%  {bar(candidate)}"
    mirrored = facts.mirrors(status)
    if mirrored:
        line += "  mirrors: " + ", ".join(f"{v} {p}%" for v, p in mirrored)
    return line


def _conditions(status: Json, now: datetime, style: Style) -> str:
    rows: list[list[Cell | str]] = [
        [c.get("type", "?"), Cell(c.get("status", "?"), condition_style(c.get("type", ""),
                                                                        c.get("status", ""))),
         c.get("reason", ""), facts.age(c.get("lastTransitionTime"), now), c.get("message", "")]
        for c in facts.conditions(status)]
    if not rows:
        return ""
    return "Conditions:\n" + "\n".join(
        table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows, style))


def _analysis(status: Json, now: datetime, style: Style) -> str:
    analysis = status.get("analysis")
    if not analysis:
        return ""
    verdict = analysis.get("verdict", "-")
    head = (f"Analysis:   {style.paint(verdict, VERDICT_STYLE.get(verdict))}, updated "
            f"{facts.age(analysis.get('updatedAt'), now)} ago")
    if analysis.get("sampleRatioPValue") is not None:
        head += f", sample ratio p={facts.p_value(analysis['sampleRatioPValue'])}"
    for key, label in (("consecutiveMissing", "missing"), ("consecutiveErrors", "errors")):
        if analysis.get(key):
            head += f", {analysis[key]} consecutive {label}"
    metrics = analysis.get("metrics") or []
    header = ["METRIC", "VERDICT", "N STABLE", "N CANDIDATE", "ESTIMATE", "INTERVAL", "P-VALUE",
              "NEEDED"]
    rows = table(header, [_metric_row(m) for m in metrics], style)
    lines = [head, rows[0]]
    for metric, row in zip(metrics, rows[1:], strict=True):
        lines.append(row)  # each metric's reason right under its numbers
        if metric.get("reason"):
            lines.append(style.paint(f"      {metric['reason']}", "dim"))
    return "\n".join(lines) if metrics else head


def _metric_row(metric: Json) -> list[Cell | str]:
    stable_n, candidate_n = facts.samples(metric)
    verdict = metric.get("verdict", "-")
    return [
        metric.get("name", "?"), Cell(verdict, VERDICT_STYLE.get(verdict)), facts.count(stable_n),
        facts.count(candidate_n), facts.number(metric.get("estimate"), signed=True),
        facts.interval(metric.get("lower"), metric.get("upper")),
        facts.p_value(metric.get("pValue")), facts.count(metric.get("samplesNeeded")),
    ]


def _history(status: Json, now: datetime, style: Style) -> str:
    history = status.get("history") or []
    if not history:
        return ""
    rows: list[list[Cell | str]] = [
        [h.get("revision", "?"), Cell(h.get("outcome", "?"), OUTCOME_STYLE.get(h.get("outcome"))),
         h.get("reason", ""), f"{facts.age(h.get('finishedAt'), now)} ago", h.get("message", "")]
        for h in reversed(history)]
    return "History (newest first):\n" + "\n".join(
        table(["REVISION", "OUTCOME", "REASON", "FINISHED", "MESSAGE"], rows, style))


def _events(events: Sequence[Json] | None, now: datetime, style: Style) -> str:
    if events is None:
        return "Events: not readable with these credentials."
    if not events:
        return "Events: none."
    shown = facts.sorted_events(list(events))[-EVENTS_SHOWN:]
    rows: list[list[Cell | str]] = [
        [facts.age(facts.event_time(e), now),
         Cell(e.get("type", ""), "yellow" if e.get("type") == "Warning" else None),
         e.get("reason", ""), e.get("message", "")] for e in shown]
    return f"Events (last {len(shown)}):\n" + "\n".join(
        table(["AGE", "TYPE", "REASON", "MESSAGE"], rows, style))
