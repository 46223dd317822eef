"""Invariants of the state machine under random strategies, readiness flips, commands, edits
and verdicts (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.contract.table import CANDIDATE
from controller.rollout.machine import decide
from controller.rollout.model import AnalysisOutcome, Observation
from tests.unit.rollout.world import World, base_spec, with_image

pytestmark = pytest.mark.unit

ANALYSIS = {"prometheus": {"address": "http://prometheus:9090"},
            "metrics": [{"name": "errors", "template": "errorRate"}]}

steps = st.lists(st.one_of(
    st.integers(0, 100).map(lambda w: {"setWeight": w}),
    st.sampled_from([{"pause": {}}, {"pause": {"durationSeconds": 30}}]),
    st.integers(1, 100).map(lambda p: {"mirror": {"percent": p, "durationSeconds": 20}}),
    st.sampled_from([{"analysis": {"durationSeconds": 60}}, {"analysis": {"minSamples": 50}}]),
), min_size=1, max_size=8)

actions = st.lists(st.one_of(
    st.just(("tick", None)),
    st.sampled_from(["pause", "resume", "promote", "promote-full", "abort", "retry",
                     "bogus"]).map(lambda a: ("command", a)),
    st.just(("flip", None)),
    st.integers(2, 5).map(lambda v: ("edit", v)),
    st.sampled_from(["Pass", "Fail", "Inconclusive", "NoData"]).map(lambda v: ("verdict", v)),
), min_size=1, max_size=40)


def check_invariants(world: World, observation: Observation) -> None:
    plan = decide(observation)
    assert plan == decide(observation), "the same inputs must give the same plan"
    split = plan.traffic
    assert 0 <= split.candidate_weight <= 100
    assert split.stable_weight + split.candidate_weight == 100
    candidate = plan.status.candidate_revision
    child = observation.children.get(candidate or "")
    if candidate is None or child is None or not child.ready_for(observation.spec.replicas):
        assert split.candidate_weight == 0, "a candidate that is not Ready gets no live traffic"
        assert split.mirror_percent(CANDIDATE) == 0, "nor mirrored traffic"
    before = observation.status.current_step_index
    after = plan.status.current_step_index
    same_candidate = candidate == observation.status.candidate_revision
    if before is not None and after is not None and same_candidate:
        assert after in (before, before + 1), "steps advance one at a time"


@settings(max_examples=150, deadline=None)
@given(steps=steps, actions=actions)
def test_invariants_hold_under_any_sequence(steps: list[dict[str, Any]],
                                            actions: list[tuple[str, Any]]) -> None:
    world = World(base_spec(analysis=ANALYSIS, strategy={"canary": {"steps": steps}}))
    verdict = {"value": "Pass"}
    world.analyzer = lambda _: AnalysisOutcome(verdict["value"], "simulated",  # type: ignore[arg-type]
                                               candidate_samples=100)
    world.tick()
    nonce = 0
    for kind, value in actions:
        if kind == "command":
            nonce += 1
            world.command(f"{value}@{nonce}")
        elif kind == "flip" and world.status.candidate_revision:
            world.never_ready ^= {world.status.candidate_revision}
        elif kind == "edit":
            world.edit(with_image(world.spec, f"model:{value}"))
        elif kind == "verdict":
            verdict["value"] = value
        check_invariants(world, world.observe())
        world.tick(max_seconds=45)
        if world.status.candidate_revision is None and world.plans[-1].status.rejected_revision:
            assert world.applied[-1].candidate_weight == 0, "rollback gives stable 100%"


@settings(max_examples=60, deadline=None)
@given(steps=steps)
def test_uninterrupted_canary_promotes_with_weights_in_step_order(
    steps: list[dict[str, Any]]
) -> None:
    world = World(base_spec(analysis=ANALYSIS, strategy={"canary": {"steps": steps}}))
    world.tick()
    world.edit(with_image(world.spec, "model:2"))
    nonce = 0
    for _ in range(200):
        world.tick(max_seconds=45)
        if world.status.candidate_revision is None:
            break
        if world.status.phase == "Paused":
            nonce += 1
            world.command(f"promote@{nonce}")
    assert world.status.history[-1].outcome == "Promoted"
    expected = [0]
    for index in range(len(steps)):
        weight = 0 if "mirror" in steps[index] else next(
            (s["setWeight"] for s in reversed(steps[: index + 1]) if "setWeight" in s), 0)
        if weight != expected[-1]:
            expected.append(weight)
    if expected[-1] != 0:
        expected.append(0)
    assert world.weights() == expected
