"""The demo's HTML report: for each act, the rollout's analysis over time as it stood when the
act ended (status.analysisHistory), drawn by the same code as `kubectl modelrollout report`
(controller/plugin/charts.py), plus the outcome of each act and the Events."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from controller.plugin import charts
from controller.plugin.report import CSS

Json = dict[str, Any]


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(acts: Sequence[tuple[str, Json]], outcomes: Sequence[Json],
           events: Sequence[tuple[str, str, str]]) -> str:
    """One self-contained page: the outcomes, each act's plots, the Event timeline. `acts`
    are (name, the ModelRollout as read when the act's rollout ended)."""
    sections = [f"<h2>Act {html.escape(name)}: analysis over time</h2>"
                + charts.history_html(body) for name, body in acts]
    outcome_rows = [[o.get("act"), o.get("revision"), o.get("outcome"), o.get("reason"),
                     o.get("message")] for o in outcomes]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>ModelRollout demo</title><style>{CSS}</style></head><body>"
        "<h1>ModelRollout demo report</h1><h2>Outcomes</h2>"
        + _table(["act", "revision", "outcome", "reason", "message"], outcome_rows)
        + "".join(sections) + "<h2>Events</h2>"
        + _table(["time", "reason", "message"], events) + "</body></html>\n")
