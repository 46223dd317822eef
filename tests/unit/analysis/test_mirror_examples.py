"""The shipped shadow and blue/green examples driven to their verdicts: the spec as shipped,
the candidate a new image, judged by the real PrometheusAnalyzer over simulated counters."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from controller.analysis.analyzer import PrometheusAnalyzer
from controller.analysis.provider import BucketCounts, Window
from controller.contract.metrics import LATENCY_BUCKETS
from tests.doubles import AnswerSource
from tests.unit.analysis.looks import ROLLOUT
from tests.unit.analysis.simulated import (
    Rate,
    counters,
    errors_at,
    live_weights,
    promoted,
    rolled_back,
)
from tests.unit.rollout.world import World, settled, with_image

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def fast_requests(per_second: float) -> Callable[[Window], BucketCounts]:
    """Latency buckets of `per_second` requests, all answered within 10 ms."""
    def buckets(window: Window) -> BucketCounts:
        n = per_second * window.seconds
        return BucketCounts(tuple((b, n if b >= 0.01 else 0.0)
                                  for b in (*LATENCY_BUCKETS, math.inf)), 0.005 * n)
    return buckets


def example(name: str, metrics: dict[str, dict[str, Rate]],
            traffic: dict[str, float] | None = None,
            latency: dict[tuple[str, str], AnswerSource] | None = None) -> World:
    """The example's spec as shipped, the candidate a new image, judged by the real analyzer
    over simulated counters."""
    spec = yaml.safe_load((EXAMPLES / name).read_text())["spec"]
    world = World(spec)
    world.shadows_ready = {s["name"]: True for s in spec.get("shadows", [])}
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    fake = counters(metrics, traffic)
    fake.answers = {**fake.answers, **(latency or {})}
    analyzer = PrometheusAnalyzer(lambda _source: fake, scope="")
    world.analyzer = lambda observation: analyzer.evaluate(ROLLOUT, observation)
    world.edit(with_image(world.spec, "model:next"))
    return world


def shadow_example(agreement: float) -> World:
    metrics = {**errors_at(0.01, 0.01, rates=(20.0, 20.0)),
               "agreement": {"candidate": Rate(20, agreement), "challenger": Rate(2, 0.9)}}
    metrics["errors"]["challenger"] = Rate(2, 0.01)
    latency: dict[tuple[str, str], AnswerSource] = {
        ("slow", v): fast_requests(20.0) for v in ("stable", "candidate", "challenger")}
    return example("shadow.yaml", metrics, {"stable": 18.0, "candidate": 2.0}, latency)


def test_shadow_example_promotes_a_candidate_that_agrees() -> None:
    world = shadow_example(0.995)
    world.run_until(settled)
    assert promoted(world)
    steps = world.status.step_results
    assert steps[0].step == "mirror 100% judged"
    assert steps[0].verdict == "Pass"
    challenger = world.status.shadows[0]
    assert (challenger.name, challenger.gates) == ("challenger", False)
    assert challenger.verdict == "Fail"  # 90% agreement: below its floor, reported only


def test_shadow_example_rolls_back_a_candidate_that_disagrees_before_it_is_live() -> None:
    world = shadow_example(0.9)
    world.run_until(settled)
    reason, message = rolled_back(world)
    assert reason == "AnalysisFailed"
    assert message.startswith("agreement: ")
    assert set(live_weights(world)) == {0}


def blue_green_example(agreement: float) -> World:
    metrics = {**errors_at(0.01, 0.01, rates=(20.0, 20.0)),
               "agreement": {"candidate": Rate(20, agreement)}}
    return example("blue-green.yaml", metrics)


def test_blue_green_example_switches_to_a_candidate_that_agrees() -> None:
    world = blue_green_example(0.99)
    world.run_until(settled)
    assert promoted(world)
    assert world.status.step_results[0].verdict == "Pass"


def test_blue_green_example_rolls_back_a_preview_that_disagrees() -> None:
    world = blue_green_example(0.85)
    world.run_until(settled)
    reason, message = rolled_back(world)
    assert reason == "AnalysisFailed"
    assert message.startswith("agreement: ")
    assert set(live_weights(world)) == {0}
