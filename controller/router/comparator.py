"""Prediction extraction and comparison (pure); paths are parsed by controller.contract.jsonpath."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from controller.contract.jsonpath import Step

Comparison = Literal["agree", "disagree", "error"]
_MISSING = object()


def extract(document: Any, steps: tuple[Step, ...]) -> Any:
    """The value at `steps`, or _MISSING."""
    node = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return _MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return _MISSING
            node = node[step]
    return node


def prediction_of(body: bytes, steps: tuple[Step, ...]) -> Any:
    """The prediction in a JSON response body, or _MISSING if absent or not JSON."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # a backend's answer: anything
        return _MISSING
    return extract(document, steps)


def is_missing(value: Any) -> bool:
    return value is _MISSING


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def label_text(value: Any) -> str:
    """The Prometheus label / feedback form of a prediction value."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def same_prediction(a: Any, b: Any, mode: str, tolerance_ppm: int) -> bool:
    if mode == "numeric":
        x, y = as_number(a), as_number(b)
        return x is not None and y is not None and abs(x - y) * 1e6 <= tolerance_ppm
    return label_text(a) == label_text(b)


def compare(
    primary: bytes, shadow: bytes, steps: tuple[Step, ...], mode: str, tolerance_ppm: int
) -> Comparison:
    """Shadow vs primary answer: an unreadable shadow prediction is an error."""
    theirs = prediction_of(shadow, steps)
    if theirs is _MISSING:
        return "error"
    ours = prediction_of(primary, steps)
    if ours is _MISSING:
        return "error"
    return "agree" if same_prediction(ours, theirs, mode, tolerance_ppm) else "disagree"


def corrupt(body: bytes, steps: tuple[Step, ...], mode: str) -> bytes:
    """Chaos: a wrong prediction (1 - score for numeric, a bogus label for exact)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return body
    parent = extract(document, steps[:-1]) if len(steps) > 1 else document
    last = steps[-1]
    container_ok = (isinstance(last, int) and isinstance(parent, list) and last < len(parent)) or (
        isinstance(last, str) and isinstance(parent, dict) and last in parent
    )
    if not container_ok:
        return body
    value = parent[last]
    number = as_number(value)
    if mode == "numeric" and number is not None:
        parent[last] = 1.0 - number
    else:
        parent[last] = "__corrupted__"
    return json.dumps(document, separators=(",", ":")).encode()
