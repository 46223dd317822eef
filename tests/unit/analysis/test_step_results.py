"""Every step's outcome, in status.stepResults and a StepCompleted Event, says whether the
analysis judged it (n per variant, the test, the verdict) or it ended otherwise."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.analysis.simulated import counters, errors_at, events, rollout
from tests.unit.rollout.world import settled, with_image

pytestmark = pytest.mark.unit

TRAFFIC = {"stable": 20.0, "candidate": 5.0}
STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"analysis": {"durationSeconds": 300}},
         {"pause": {"durationSeconds": 60}}, {"setWeight": 100}]


def test_each_step_says_whether_it_was_judged() -> None:
    world = rollout(counters(errors_at(0.01, 0.01), TRAFFIC), STEPS)
    world.run_until(settled)
    completed = events(world, "StepCompleted")
    assert completed[0] == "step 1/4 (setWeight 20): candidate at 20% live (not judged)"
    assert re.fullmatch(r"step 2/4 \(analysis\): judged Pass — errors n=\d+/\d+ \(two "
                        r"proportions, mSPRT: worse by more than 0 pts\): Pass p=[\d.e-]+",
                        completed[1]), completed[1]
    assert completed[2:] == ["step 3/4 (pause 60s): 60s elapsed (not judged)"]
    last = "step 4/4 (setWeight 100): candidate at 100% live (not judged)"
    assert events(world, "Promoted")[-1].endswith(f": all 4 steps completed; {last}")
    results = world.status.step_results
    assert [(r.index, r.step, r.judged, r.verdict) for r in results] == [
        (0, "setWeight 20", False, None), (1, "analysis", True, "Pass"),
        (2, "pause 60s", False, None), (3, "setWeight 100", False, None)]
    assert [r.message for r in results] == [*completed, last]


def test_a_failed_step_is_recorded_as_judged_and_the_next_rollout_starts_afresh() -> None:
    world = rollout(counters(errors_at(0.01, 0.05), TRAFFIC), STEPS)
    world.run_until(settled)
    last = world.status.step_results[-1]
    assert (last.index, last.judged, last.verdict) == (1, True, "Fail")
    assert re.match(r"step 2/4 \(analysis\): judged Fail — errors n=\d+/\d+ ", last.message)
    world.edit(with_image(world.spec, "model:3"))
    world.tick()
    assert world.status.step_results == []


def test_a_step_ended_by_a_person_is_recorded_as_not_judged() -> None:
    world = rollout(counters(errors_at(0.01, 0.01), TRAFFIC), STEPS)
    world.run_until(lambda w: w.status.current_step_index == 1)
    world.command("abort@1")
    world.tick()
    last = world.status.step_results[-1]
    assert (last.index, last.judged) == (1, False)
    assert last.message.startswith("step 2/4 (analysis): aborted by command abort@1 (not "
                                   "judged")
