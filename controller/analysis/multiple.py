"""Holm's step-down procedure: family-wise error control over several guardrails.

It stays valid for always-valid p-values: if Holm ever rejects a true null, then at that
moment the smallest true-null p-value is <= alpha / m0, which has probability <= alpha.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _check_p_values(p_values: Sequence[float]) -> None:
    for i, p in enumerate(p_values):
        if not (isinstance(p, int | float) and 0 <= p <= 1) or math.isnan(p):
            raise ValueError(f"p_values[{i}] must be a number in [0, 1], got {p!r}")


def holm_adjust(p_values: Sequence[float]) -> tuple[float, ...]:
    """Holm-adjusted p-values in the input order (as R's p.adjust(method = "holm"))."""
    _check_p_values(p_values)
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        # Step-down: an adjusted p can never be smaller than one before it.
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        adjusted[i] = running
    return tuple(adjusted)


def holm_reject(p_values: Sequence[float], alpha: float = 0.05) -> tuple[bool, ...]:
    """Which hypotheses Holm rejects at family-wise level alpha, in the input order."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return tuple(p <= alpha for p in holm_adjust(p_values))
