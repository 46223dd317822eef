"""Restart safety: SIGKILL the operator at every step boundary of a canary; the outcome and the
sequence of routing tables equal those of an uninterrupted run, and no step runs twice."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from kubernetes import client

from tests.helpers import eventually
from tests.integration.conftest import OperatorProcess
from tests.integration.rollouts import Rollouts, TableRecorder, canary, manifest

pytestmark = pytest.mark.integration

STEPS = canary({"setWeight": 10}, {"setWeight": 30}, {"pause": {"durationSeconds": 1}},
               {"setWeight": 60}, {"pause": {"durationSeconds": 1}}, {"setWeight": 90})


def promoted(status: dict[str, object]) -> bool:
    history = status.get("history") or []
    assert isinstance(history, list)
    return bool(history) and history[-1].get("outcome") == "Promoted"


def roll_out(rollouts: Rollouts, api: client.ApiClient, name: str,
             operator: OperatorProcess, kill_at_boundaries: bool) -> tuple[list[int | None], int]:
    """Deploy, change the model, and follow the rollout to promotion; returns the candidate
    weights of every routing table and how many times the operator was killed."""
    rollouts.create(manifest(name, "model:1", STEPS))
    rollouts.wait_condition(name, "Healthy", "True")
    recorder = TableRecorder(api, rollouts.namespace, name)
    kills, last_index = 0, None
    try:
        eventually(recorder.versions, "the recorder to see the first table")
        rollouts.set_image(name, "model:2")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = rollouts.status(name)
            if promoted(status):
                break
            index = status.get("currentStepIndex")
            if kill_at_boundaries and index is not None and index != last_index:
                operator.kill()  # right after the status that crossed the boundary
                kills += 1
                operator.start()
            last_index = index
            time.sleep(0.02)  # polling interval of this observer, not a synchronisation
        else:
            raise AssertionError(f"{name} not promoted within 120s: {rollouts.status(name)}")
        eventually(lambda: recorder.candidate_weights()[-1] is None, "the stable-only table")
        return recorder.candidate_weights(), kills
    finally:
        recorder.stop()


def test_sigkill_at_every_step_boundary_changes_nothing(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    rollouts = Rollouts(api, namespace)
    reference, _ = roll_out(rollouts, api, "steady", operator, kill_at_boundaries=False)
    crashed, kills = roll_out(rollouts, api, "crashy", operator, kill_at_boundaries=True)
    assert reference == [None, 0, 10, 30, 60, 90, None]
    # The observer polls, so two quick boundaries can fall between looks; most are hit.
    assert kills >= 4, f"the operator was killed at only {kills} step boundaries"
    assert crashed == reference
    completions = Counter(e.message for e in rollouts.events("crashy")
                          if e.reason == "StepCompleted")
    assert completions, "steps completed"
    assert max(completions.values()) == 1, f"a step ran twice: {completions}"
    assert [h["outcome"] for h in rollouts.status("crashy")["history"]] == ["Promoted"]
