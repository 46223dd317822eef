"""Sample ratio mismatch: is the observed split of traffic the configured one?

A wrong split (a router bug, a crashing variant, bots hitting one pod) biases every
comparison, so it is checked first and, on a mismatch, the comparison is not judged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from controller.analysis.types import SrmResult

DEFAULT_SRM_THRESHOLD = 0.001


def srm_check(
    observed: Sequence[int], weights: Sequence[int], *, threshold: float = DEFAULT_SRM_THRESHOLD
) -> SrmResult:
    """Pearson chi-square goodness of fit of per-variant counts against integer weights
    (percent, basis points, ...); mismatch when p < threshold.

    A variant with weight 0 that still receives traffic is a certain mismatch (p = 0).
    With no traffic at all there is nothing to check: p = 1, no mismatch.
    """
    if len(observed) != len(weights) or len(observed) < 2:
        raise ValueError("observed and weights must have the same length >= 2")
    if any(int(w) != w or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be integers >= 0 with a positive sum, got {weights}")
    if any(o < 0 for o in observed):
        raise ValueError(f"observed must be >= 0, got {observed}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    obs = np.asarray(observed, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    total = float(obs.sum())
    expected = total * w / w.sum()
    live = w > 0
    df = float(live.sum() - 1)
    if total == 0:
        return SrmResult(0.0, 1.0, df, tuple(obs), tuple(expected), threshold, False)
    if np.any(obs[~live] > 0):
        return SrmResult(float("inf"), 0.0, df, tuple(obs), tuple(expected), threshold, True)
    if live.sum() < 2:
        return SrmResult(0.0, 1.0, 0.0, tuple(obs), tuple(expected), threshold, False)
    res = sps.chisquare(obs[live], expected[live])
    p_value = float(res.pvalue)
    return SrmResult(float(res.statistic), p_value, df, tuple(float(o) for o in obs),
                     tuple(float(e) for e in expected), threshold, p_value < threshold)
