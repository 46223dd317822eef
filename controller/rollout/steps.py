"""Derived facts about a strategy's steps: pure functions of (spec, index), never stored.

The one step model for both strategies, so every index check, total and label agrees:

- canary: one step per entry of `strategy.canary.steps`, in order;
- blue/green: two steps, index 0 the preview (the candidate answers on its preview Service
  only, judged by the optional prePromotionAnalysis) and index 1 the switch (the
  auto-promotion wait, or waiting for a person to promote).
"""

from __future__ import annotations

from controller.api.spec import ModelRolloutSpec
from controller.api.strategy import AnalysisStep, CanaryStep, ChaosStep
from controller.contract.table import CANDIDATE, serving_window
from controller.rollout.split import Faults, Mirror, TrafficSplit


def canary_steps(spec: ModelRolloutSpec) -> list[CanaryStep]:
    return list(spec.strategy.canary.steps) if spec.strategy.canary else []


BLUE_GREEN_STEPS = ("preview", "switch")


def step_count(spec: ModelRolloutSpec) -> int:
    """How many steps a rollout of `spec` walks: the canary's steps, or blue/green's two."""
    if spec.strategy.canary:
        return len(spec.strategy.canary.steps)
    return len(BLUE_GREEN_STEPS)


def step_label(spec: ModelRolloutSpec, index: int) -> str:
    """A short name for step `index` (0-based, below step_count), for Events and messages."""
    if not 0 <= index < step_count(spec):
        raise IndexError(f"step {index} of {step_count(spec)}")
    if spec.strategy.canary:
        return _describe(spec.strategy.canary.steps[index])
    return BLUE_GREEN_STEPS[index]


def live_weight(steps: list[CanaryStep], index: int) -> int:
    """The candidate's live weight at step `index`: the last setWeight at or before it."""
    for step in reversed(steps[: index + 1]):
        if step.set_weight is not None:
            return step.set_weight
    return 0


def analysis_step(spec: ModelRolloutSpec, index: int | None) -> AnalysisStep | None:
    """The analysis that gates the current step, if any."""
    if index is None:
        return None
    if spec.strategy.blue_green:
        # Only the preview is judged: the switch waits for the clock or a person.
        return spec.strategy.blue_green.pre_promotion_analysis if index == 0 else None
    steps = canary_steps(spec)
    if index >= len(steps):
        return None
    step = steps[index]
    if step.mirror is not None:
        return step.mirror.analysis  # judged as a shadow (candidate_is_shadow)
    if step.chaos is not None and spec.analysis is not None:
        # A chaos step is watched for its whole length: it passes only when the analysis
        # catches the faults (judging.judge_chaos).
        return AnalysisStep(duration_seconds=step.chaos.duration_seconds)
    return step.analysis


def candidate_is_shadow(spec: ModelRolloutSpec, index: int | None) -> bool:
    """Whether the candidate is judged as a shadow at step `index`: it gets a copy of live
    requests and answers none of them (a mirror step; the blue/green preview mirrored by the
    builtin router). Its errors and latency are then the router's shadow series, its accuracy
    the labels paired with the stable's on the same requests."""
    if index is None:
        return False
    if spec.strategy.blue_green:
        return index == 0 and preview_mirror_percent(spec) > 0
    steps = canary_steps(spec)
    return index < len(steps) and steps[index].mirror is not None


def preview_mirror_percent(spec: ModelRolloutSpec) -> int:
    """The % of live requests copied to the previewed blue/green candidate: only with the
    builtin router (it makes the copies) and a prePromotionAnalysis to judge them."""
    blue_green = spec.strategy.blue_green
    if blue_green is None or blue_green.pre_promotion_analysis is None \
            or spec.traffic_routing.kind != "builtin":
        return 0
    return blue_green.preview_mirror_percent


def blue_green_split(spec: ModelRolloutSpec, stable: str, candidate: str | None, index: int,
                     candidate_ready: bool, shadows: tuple[Mirror, ...]) -> TrafficSplit:
    """blue/green: the candidate answers only on its preview Service until the switch; while
    previewed (and Ready) it gets its mirrored copies."""
    percent = preview_mirror_percent(spec)
    window = "" if candidate is None else serving_window(candidate, index)
    if candidate is None or index != 0 or not candidate_ready or not percent:
        return TrafficSplit(stable, candidate, 0, shadows, window=window)
    mirror = Mirror(variant=CANDIDATE, revision=candidate, percent=percent)
    return TrafficSplit(stable, candidate, 0, (mirror, *shadows), window=window)


def shadow_mirrors(spec: ModelRolloutSpec, shadow_revisions: dict[str, str],
                   shadows_ready: dict[str, bool]) -> tuple[Mirror, ...]:
    """Long-lived shadows get their copy of traffic only while their pods are Ready."""
    return tuple(
        Mirror(variant=s.name, revision=shadow_revisions[s.name], percent=s.mirror_percent)
        for s in spec.shadows or ()
        if shadows_ready.get(s.name) and s.name in shadow_revisions
    )


def canary_split(spec: ModelRolloutSpec, stable: str, candidate: str, index: int,
                 candidate_ready: bool, shadows: tuple[Mirror, ...]) -> TrafficSplit:
    """The split for canary step `index`. A candidate that is not Ready gets no traffic at all,
    live or mirrored; a mirror step is 0% live by definition."""
    steps = canary_steps(spec)
    window = serving_window(candidate, index)
    if not candidate_ready:
        return TrafficSplit(stable, candidate, 0, shadows, window=window)
    step = steps[index] if index < len(steps) else None
    if step is not None and step.mirror is not None:
        mirror = Mirror(variant=CANDIDATE, revision=candidate, percent=step.mirror.percent)
        return TrafficSplit(stable, candidate, 0, (mirror, *shadows), window=window)
    faults = None
    if step is not None and step.chaos is not None:
        faults = Faults(
            fraction_basis_points=step.chaos.fraction_basis_points,
            error_status=step.chaos.error_status,
            added_latency_milliseconds=step.chaos.added_latency_milliseconds or 0,
            corrupt_prediction=bool(step.chaos.corrupt_prediction),
            segment=step.chaos.segment,
            header=(step.chaos.header.name, step.chaos.header.value)
            if step.chaos.header else None,
            hashed_fraction_basis_points=step.chaos.hashed_fraction_basis_points,
        )
    return TrafficSplit(stable, candidate, live_weight(steps, index), shadows, faults,
                        window=window)



def step_duration(step: CanaryStep) -> int | None:
    """Seconds a timed step lasts; None waits for a verdict or a promote (a judged mirror step
    ends by its analysis: analysis_step)."""
    for timed in (step.pause, step.mirror, step.chaos):
        if timed is not None:
            return timed.duration_seconds
    return None


def describe_faults(chaos: ChaosStep) -> str:
    """'HTTP 500 and +250ms on 30% of the candidate's requests of segment beta'."""
    effects = []
    if chaos.error_status is not None:
        effects.append(f"HTTP {chaos.error_status}")
    if chaos.added_latency_milliseconds:
        effects.append(f"+{chaos.added_latency_milliseconds}ms")
    if chaos.corrupt_prediction:
        effects.append("corrupted predictions")
    scope = ""
    if chaos.segment is not None:
        scope = f" of segment {chaos.segment}"
    elif chaos.header is not None:
        scope = f" with header {chaos.header.name}: {chaos.header.value}"
    elif chaos.hashed_fraction_basis_points is not None:
        scope = f" of {chaos.hashed_fraction_basis_points / 100:g}% of units"
    return (f"{' and '.join(effects)} on {chaos.fraction_basis_points / 100:g}% of the "
            f"candidate's requests{scope}")


def _describe(step: CanaryStep) -> str:
    if step.set_weight is not None:
        return f"setWeight {step.set_weight}"
    if step.mirror is not None:
        judged = " judged" if step.mirror.analysis is not None else ""
        return f"mirror {step.mirror.percent}%{judged}"
    if step.pause is not None and step.pause.duration_seconds is not None:
        return f"pause {step.pause.duration_seconds}s"
    return step.kind
