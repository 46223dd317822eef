"""status.analysisHistory: every look of the analysis, kept per step and bounded (pure).

A step keeps at most LOOKS_PER_STEP_MAX looks. When one more arrives, the look whose removal
leaves the smallest gap between its neighbours goes (the oldest on a tie), never the first
or the last: a long step ends up with its looks spread evenly over it, the oldest thinned
first. Only the newest ANALYSIS_HISTORY_MAX_STEPS steps are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from controller.api.status import (
    ANALYSIS_HISTORY_MAX_STEPS,
    LOOKS_PER_STEP_MAX,
    AnalysisLook,
    AnalysisStatus,
    LookMetric,
    StepAnalysis,
    Traffic,
)


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def thinned(looks: Sequence[AnalysisLook], limit: int = LOOKS_PER_STEP_MAX
            ) -> list[AnalysisLook]:
    """At most `limit` looks (limit >= 2), the first and the last kept."""
    kept = list(looks)
    while len(kept) > limit:
        times = [_time(look.at) for look in kept]
        gaps = [(times[i + 1] - times[i - 1], i) for i in range(1, len(kept) - 1)]
        _, drop = min(gaps)  # the smallest merged gap, the oldest on a tie
        del kept[drop]
    return kept


def snapshot(analysis: AnalysisStatus, traffic: Traffic | None) -> AnalysisLook:
    live = traffic or Traffic()
    return AnalysisLook(
        at=analysis.updated_at, verdict=analysis.verdict, stable_weight=live.stable_weight,
        candidate_weight=live.candidate_weight, mirrors=list(live.mirrors),
        metrics=[LookMetric(name=m.name, verdict=m.verdict, samples=m.samples,
                            estimate=m.estimate, lower=m.lower, upper=m.upper,
                            p_value=m.p_value, label_coverage=m.label_coverage)
                 for m in analysis.metrics])


def recorded(history: Sequence[StepAnalysis], index: int, step: str, look: AnalysisLook,
             steps: int = ANALYSIS_HISTORY_MAX_STEPS, looks: int = LOOKS_PER_STEP_MAX
             ) -> list[StepAnalysis]:
    """`history` with `look` appended to step `index` (a new entry if it is not the last);
    a look already recorded (same time) replaces the older copy."""
    entries = list(history)
    if entries and entries[-1].index == index:
        last = entries.pop()
        previous = [old for old in last.looks if old.at != look.at]
        entry = last.model_copy(update={"looks": thinned([*previous, look], looks)})
    else:
        entry = StepAnalysis(index=index, step=step[:128], looks=[look])
    return [*entries, entry][-steps:]
