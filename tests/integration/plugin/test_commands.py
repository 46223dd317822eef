"""pause, resume, promote, abort, retry against the real operator process."""

from __future__ import annotations

import pytest

from tests.integration.conftest import OperatorProcess
from tests.integration.plugin.conftest import Plugin, start_candidate
from tests.integration.rollouts import Rollouts

pytestmark = pytest.mark.integration

TIMEOUT = "20"  # the operator on 2 busy cores; a command normally lands in well under 1 s


def last_outcome(status: dict[str, object]) -> object:
    history = status.get("history") or []
    assert isinstance(history, list)
    return history[-1]["outcome"] if history else None


def test_pause_resume_then_promote_a_paused_canary(
        plugin: Plugin, rollouts: Rollouts, operator: OperatorProcess) -> None:
    start_candidate(rollouts, "fraud")

    paused = plugin("pause", "fraud", "--timeout", TIMEOUT)
    assert paused.code == 0, paused
    assert paused.out.startswith("pause: done (pause@")
    assert "paused by user" in paused.out
    assert rollouts.status("fraud")["pausedByUser"] is True
    assert rollouts.condition("fraud", "Paused") == ("True", "PausedByUser")

    resumed = plugin("resume", "fraud", "--timeout", TIMEOUT)
    assert resumed.code == 0, resumed
    assert "no longer paused" in resumed.out

    promoted = plugin("promote", "fraud", "--timeout", TIMEOUT)
    assert promoted.code == 0, promoted
    assert promoted.out.startswith("promote: done (promote@")
    assert "step 2 -> 3" in promoted.out or "Promoted" in promoted.out, promoted.out
    status = rollouts.wait_status("fraud", "promoted", lambda s: last_outcome(s) == "Promoted")

    shown = plugin("status", "fraud")
    assert shown.code == 0
    assert f"stable {status['stableRevision']}  candidate -" in shown.out
    assert "CommandReceived" in shown.out


def test_abort_retry_and_promote_full(
        plugin: Plugin, rollouts: Rollouts, operator: OperatorProcess) -> None:
    candidate = start_candidate(rollouts, "fraud")["candidateRevision"]

    aborted = plugin("abort", "fraud", "--timeout", TIMEOUT)
    assert aborted.code == 0, aborted
    assert f"revision {candidate} Aborted (Aborted)" in aborted.out
    assert rollouts.condition("fraud", "Degraded") == ("True", "Aborted")

    retried = plugin("retry", "fraud", "--timeout", TIMEOUT)
    assert retried.code == 0, retried
    assert f"candidate - -> {candidate}" in retried.out
    rollouts.wait_condition("fraud", "Paused", "True", reason="WaitingForPromotion")

    full = plugin("promote", "fraud", "--full", "--timeout", TIMEOUT)
    assert full.code == 0, full
    assert full.out.startswith("promote-full: done (promote-full@")
    assert f"revision {candidate} Promoted (PromotedByUser)" in full.out
    assert rollouts.status("fraud")["stableRevision"] == candidate


def test_a_command_the_operator_refuses_exits_1_with_its_reason(
        plugin: Plugin, rollouts: Rollouts, operator: OperatorProcess) -> None:
    start_candidate(rollouts, "fraud")
    refused = plugin("retry", "fraud", "--timeout", TIMEOUT)
    assert refused.code == 1
    assert refused.out == ("retry: the operator did not act: retry: the candidate was not "
                           "rolled back\n")
