"""The prediction-path grammar shared by the CRD, the operator and the router.

Paths are a small JSON-path subset: an optional `$`, then `.key`, `[index]` or `["key"]` steps,
e.g. `predictions[0].label` or `$.outputs[0].data[0]` (KServe v1 and v2 responses).
"""

from __future__ import annotations

import re
from functools import lru_cache

Step = str | int
_STEP_RE = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[\"([^\"]+)\"\]")
_STEP = r'(\.[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]+\]|\["[^"]+"\])'
# The same grammar as one regular expression, for the CRD's pattern (admission).
PATH_PATTERN = rf'^\$?(\.?[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]+\]|\["[^"]+"\]){_STEP}*$'



@lru_cache(maxsize=256)
def parse_path(path: str) -> tuple[Step, ...]:
    """'a.b[0]' -> ('a', 'b', 0); raises ValueError on anything else."""
    text = path[1:] if path.startswith("$") else path
    if text and not text.startswith((".", "[")):
        text = "." + text
    steps: list[Step] = []
    position = 0
    while position < len(text):
        match = _STEP_RE.match(text, position)
        if match is None:
            raise ValueError(f"invalid JSON path {path!r} at offset {position}")
        key, index, quoted = match.groups()
        steps.append(int(index) if index is not None else (key or quoted))
        position = match.end()
    if not steps:
        raise ValueError(f"JSON path {path!r} selects nothing")
    return tuple(steps)
