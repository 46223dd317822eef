"""What each router replica serves, judged against the table last written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.api.status import ModelRolloutStatus
from controller.rollout.served import ServedTable, judge_served, with_verification

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_every_replica_on_the_written_table_is_verified() -> None:
    served = [ServedTable("r-1", 7, "abc"), ServedTable("r-2", 7, "abc")]
    verdict = judge_served("abc", served, 5.0, 60.0)
    assert (verdict.verified, verdict.reason) == (True, "RoutersServeTable")
    assert "2/2" in verdict.message


def test_a_lagging_replica_is_catching_up_then_drifted() -> None:
    served = [ServedTable("r-1", 7, "abc"), ServedTable("r-2", 6, "old")]
    soon = judge_served("abc", served, 10.0, 60.0)
    assert (soon.verified, soon.reason) == (None, "RoutersCatchingUp")
    late = judge_served("abc", served, 61.0, 60.0)
    assert (late.verified, late.reason) == (False, "RouterTableDrift")
    assert "r-2 (version 6)" in late.message
    assert "r-1" not in late.message


def test_no_replica_seen_is_not_a_verdict() -> None:
    verdict = judge_served("abc", [], 1e9, 60.0)
    assert (verdict.verified, verdict.reason) == (None, "RoutersNotObserved")


def test_many_drifted_replicas_are_named_in_a_bounded_message() -> None:
    served = [ServedTable(f"r-{i:03}", 1, "old") for i in range(100)]
    verdict = judge_served("abc", served, 1e9, 60.0)
    assert verdict.message.count("(version 1)") == 5
    assert "and 95 more" in verdict.message


def test_the_condition_moves_only_when_its_status_does() -> None:
    status = ModelRolloutStatus()
    ok = judge_served("abc", [ServedTable("r", 1, "abc")], 0.0, 60.0)
    first = with_verification(status, ok, 3, NOW)
    later = with_verification(first, ok, 4, NOW.replace(hour=13))
    (condition,) = later.conditions
    assert (condition.type, condition.status, condition.observed_generation) == (
        "TrafficVerified", "True", 4)
    assert condition.last_transition_time == "2026-12-01T12:00:00Z"
