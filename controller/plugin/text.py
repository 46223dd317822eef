"""Plain-text building blocks: optional ANSI colour and aligned tables (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34",
         "cyan": "36"}

VERDICT_STYLE = {"Pass": "green", "Fail": "red", "Inconclusive": "yellow", "NoData": "dim",
                 "Error": "red", "SampleRatioMismatch": "red"}
PHASE_STYLE = {"Healthy": "green", "Degraded": "red", "Paused": "yellow", "Progressing": "cyan",
               "Initializing": "dim"}
OUTCOME_STYLE = {"Promoted": "green", "RolledBack": "red", "Aborted": "red",
                 "Superseded": "yellow"}


@dataclass(frozen=True)
class Cell:
    text: str
    style: str | None = None


@dataclass(frozen=True)
class Style:
    color: bool

    def paint(self, text: str, style: str | None) -> str:
        if not self.color or not style or not text:
            return text
        return f"\x1b[{CODES[style]}m{text}\x1b[0m"


def condition_style(kind: str, value: str) -> str | None:
    """Green when the condition is good news, red/yellow when it needs a look."""
    if value != "True":
        return "dim"
    return {"Healthy": "green", "Degraded": "red", "Paused": "yellow"}.get(kind, "cyan")


def table(header: Sequence[str], rows: Sequence[Sequence[Cell | str]], style: Style,
          indent: str = "  ") -> list[str]:
    """Columns padded on the plain text, so colour codes never break the alignment; the last
    column is not padded (it holds free text such as messages)."""
    cells = [[c if isinstance(c, Cell) else Cell(c) for c in row] for row in rows]
    widths = [len(h) for h in header]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell.text))
    lines = [indent + "  ".join(
        style.paint(h.ljust(w) if i < len(header) - 1 else h, "bold")
        for i, (h, w) in enumerate(zip(header, widths, strict=True))).rstrip()]
    for row in cells:
        parts = [style.paint(c.text.ljust(w) if i < len(row) - 1 else c.text, c.style)
                 for i, (c, w) in enumerate(zip(row, widths, strict=False))]
        lines.append((indent + "  ".join(parts)).rstrip())
    return lines


def bar(percent: int, width: int = 20) -> str:
    filled = round(max(0, min(percent, 100)) * width / 100)
    return "[" + "#" * filled + "." * (width - filled) + "]"
