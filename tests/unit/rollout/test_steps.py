"""One step model for both strategies: the totals and labels in Events, status and the
analysis gate all come from controller.rollout.steps, so they agree."""

from __future__ import annotations

import re
from typing import Any

import pytest

from controller.api.spec import ModelRolloutSpec
from controller.rollout.machine import analysis_due
from controller.rollout.steps import analysis_step, step_count, step_label
from tests.unit.rollout.world import World, base_spec, passing, settled, with_image

pytestmark = pytest.mark.unit

ANALYSIS = {"prometheus": {"address": "http://prometheus:9090"},
            "metrics": [{"name": "errors", "template": "errorRate"}], "intervalSeconds": 10}
BLUE_GREEN = {"blueGreen": {"autoPromote": True, "autoPromotionSeconds": 90}}
PREVIEW_ANALYSIS = {"blueGreen": {"autoPromote": True, "autoPromotionSeconds": 90,
                                  "prePromotionAnalysis": {"durationSeconds": 60}}}


def spec_of(strategy: dict[str, Any], **changes: Any) -> ModelRolloutSpec:
    return ModelRolloutSpec.model_validate(base_spec(strategy=strategy, **changes))


def rolled_out(strategy: dict[str, Any], **changes: Any) -> World:
    world = World(base_spec(strategy=strategy, **changes))
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(settled)
    return world


def messages(world: World, reason: str) -> list[str]:
    return [e.message for p in world.plans for e in p.events if e.reason == reason]


def test_blue_green_has_two_steps_preview_then_switch() -> None:
    spec = spec_of(BLUE_GREEN)
    assert step_count(spec) == 2
    assert [step_label(spec, i) for i in range(step_count(spec))] == ["preview", "switch"]


def test_canary_has_one_step_per_entry_labelled_by_what_it_does() -> None:
    spec = spec_of({"canary": {"steps": [{"setWeight": 20}, {"pause": {}},
                                         {"mirror": {"percent": 30, "durationSeconds": 60}}]}})
    assert step_count(spec) == 3
    assert [step_label(spec, i) for i in range(3)] == ["setWeight 20", "pause", "mirror 30%"]


@pytest.mark.parametrize("strategy", [BLUE_GREEN, {"canary": {"steps": [{"setWeight": 5}]}}])
def test_a_label_exists_only_for_a_step_that_exists(strategy: dict[str, Any]) -> None:
    spec = spec_of(strategy)
    with pytest.raises(IndexError):
        step_label(spec, step_count(spec))
    with pytest.raises(IndexError):
        step_label(spec, -1)


@pytest.mark.parametrize("strategy", [
    BLUE_GREEN, PREVIEW_ANALYSIS, {"blueGreen": {}},
    {"canary": {"steps": [{"setWeight": 20}, {"pause": {"durationSeconds": 60}},
                          {"setWeight": 100}]}},
])
def test_the_started_event_and_the_step_counter_give_the_same_total(
    strategy: dict[str, Any]
) -> None:
    world = World(base_spec(strategy=strategy, analysis=ANALYSIS))
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    world.edit(with_image(world.spec, "model:2"))
    nonce = 0
    for _ in range(100):
        world.tick()
        if settled(world):
            break
        if world.status.phase == "Paused":
            nonce += 1
            world.command(f"promote@{nonce}")
    assert settled(world)
    started = re.fullmatch(r"revision \w+: [\w/]+ with (\d+) step\(s\) against stable \w+",
                           messages(world, "RolloutStarted")[0])
    assert started is not None
    total = int(started.group(1))
    counters = [re.match(r"step (\d+)/(\d+) ", m) for m in messages(world, "StepCompleted")]
    assert counters
    assert all(c is not None and int(c.group(2)) == total for c in counters)
    assert [int(c.group(1)) for c in counters if c] == list(range(1, len(counters) + 1))
    indexes = {p.status.current_step_index for p in world.plans} - {None}
    assert indexes <= set(range(total)), "status never points past the last step"
    assert total == step_count(ModelRolloutSpec.model_validate(world.spec))


def test_blue_green_preview_is_labelled_preview_in_its_event() -> None:
    world = rolled_out(BLUE_GREEN)
    assert messages(world, "StepCompleted") == [
        "step 1/2 (preview): candidate Ready behind the preview Service (not judged)"]
    assert messages(world, "Promoted")[-1].endswith(
        "switched after 90s of preview; step 2/2 (switch): 90s elapsed (not judged)")
    assert messages(world, "RolloutStarted")[0].split(": ")[1].startswith(
        "blue/green with 2 step(s)")


def test_only_the_blue_green_preview_is_judged() -> None:
    spec = spec_of(PREVIEW_ANALYSIS, analysis=ANALYSIS)
    assert analysis_step(spec, 0) is not None
    assert analysis_step(spec, 1) is None
    assert analysis_step(spec, None) is None


def test_blue_green_analysis_is_asked_for_at_the_preview_and_never_at_the_switch() -> None:
    world = World(base_spec(strategy=PREVIEW_ANALYSIS, analysis=ANALYSIS))
    looks: list[int | None] = []

    def analyzer(observation: Any) -> Any:
        looks.append(observation.status.current_step_index)
        return passing(observation)

    world.analyzer = analyzer
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    world.edit(with_image(world.spec, "model:2"))
    world.run_until(lambda w: w.status.current_step_index == 1)
    switch = world.observe()
    assert not analysis_due(switch)
    world.run_until(settled)
    assert looks
    assert set(looks) == {0}
    assert world.status.history[-1].reason == "AutoPromoted"
