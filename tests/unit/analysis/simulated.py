"""The pure state machine driven by the real PrometheusAnalyzer over simulated router counters:
each metric's events grow with the step's window at a rate per variant, as Prometheus's
increase() would report them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.analysis.analyzer import PrometheusAnalyzer
from controller.analysis.provider import Counts, ProviderError, Window
from controller.analysis.templates import STABLE_ONLY
from controller.rollout.model import AnalysisOutcome, Observation
from tests.doubles import AnswerSource, FakeProvider
from tests.unit.analysis.looks import ROLLOUT
from tests.unit.rollout.world import World, base_spec, with_image

PROMETHEUS = {"address": "http://prometheus:9090"}


@dataclass(frozen=True)
class Rate:
    """Events per second of one variant, and the share of them that count as successes."""

    per_second: float
    share: float


def counters(metrics: Mapping[str, Mapping[str, Rate]],
             traffic: Mapping[str, float] | None = None) -> FakeProvider:
    """A provider whose counts grow with the window: {metric: {variant: Rate}}, and the live
    requests per variant for the sample-ratio check."""
    answers: dict[tuple[str, str], AnswerSource] = {}
    for name, variants in metrics.items():
        for variant, rate in variants.items():
            def counts(window: Window, r: Rate = rate) -> Counts:
                return Counts(r.per_second * window.seconds * r.share,
                              r.per_second * window.seconds)

            answers[(name, variant)] = counts
    for variant, per_second in (traffic or {}).items():
        def requests(window: Window, r: float = per_second) -> Counts:
            return Counts(0, r * window.seconds)

        answers[("traffic", variant)] = requests
    return FakeProvider(answers)


def errors_at(stable: float, candidate: float, rates: tuple[float, float] = (20.0, 5.0)
              ) -> dict[str, dict[str, Rate]]:
    """errorRate counters at `rates` requests per second (stable, candidate)."""
    return {"errors": {"stable": Rate(rates[0], stable), "candidate": Rate(rates[1], candidate)}}


def paired_at(per_second: float, stable_only: float, candidate_only: float
              ) -> dict[str, dict[str, Rate]]:
    """feedbackAccuracy of a candidate judged as a shadow ("accuracy"): labelled pairs per
    second, and the shares where only the stable, or only the candidate, was right."""
    return {"accuracy": {"candidate": Rate(per_second, candidate_only)},
            "accuracy" + STABLE_ONLY: {"candidate": Rate(per_second, stable_only)}}


def down(metric: str = "errors") -> FakeProvider:
    return FakeProvider({(metric, "stable"): ProviderError("unreachable", "q", "refused")})


def rollout(fake: FakeProvider, steps: list[dict[str, Any]] | None = None, *,
            metrics: list[dict[str, Any]] | None = None, strategy: dict[str, Any] | None = None,
            **analysis: Any) -> World:
    """A deployed stable, then a new revision whose rollout the analyzer judges with `fake`."""
    spec = base_spec(
        analysis={"prometheus": PROMETHEUS, "intervalSeconds": 15,
                  "metrics": metrics or [{"name": "errors", "template": "errorRate"}],
                  **analysis},
        strategy=strategy or {"canary": {"steps": steps or [
            {"setWeight": 20}, {"analysis": {"durationSeconds": 900}}, {"setWeight": 100}]}})
    world = World(spec)
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    analyzer = PrometheusAnalyzer(lambda _source: fake, scope="")

    def evaluate(observation: Observation) -> AnalysisOutcome:
        return analyzer.evaluate(ROLLOUT, observation)

    world.analyzer = evaluate
    world.edit(with_image(world.spec, "model:2"))
    return world


def ticks(world: World, count: int) -> None:
    for _ in range(count):
        world.tick()


def events(world: World, reason: str) -> list[str]:
    return [e.message for p in world.plans for e in p.events if e.reason == reason]


def condition(world: World, type_: str) -> tuple[str, str, str]:
    found = next(c for c in world.status.conditions if c.type == type_)
    return found.status, found.reason, found.message


def live_weights(world: World) -> list[int]:
    return [split.candidate_weight for split in world.applied if split.candidate_revision]


def rolled_back(world: World) -> tuple[str, str]:
    entry = world.status.history[-1]
    assert entry.outcome == "RolledBack", entry
    return entry.reason or "", entry.message or ""


def promoted(world: World) -> bool:
    return any(h.outcome == "Promoted" for h in world.status.history)
