"""PrometheusAnalyzer with a fake provider: verdicts, policies, and state across looks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.analysis.provider import Counts, Empty, ProviderError
from controller.api.spec import ModelRolloutSpec
from controller.api.status import AnalysisStatus
from tests.doubles import FakeProvider
from tests.unit.analysis.looks import (
    ROLLOUT,
    T0,
    analyzer,
    error_answers,
    look,
    observe,
    spec,
    status,
    then,
)

pytestmark = pytest.mark.unit

DOWN = ProviderError("unreachable", "sum(increase(...))", "connection refused")


def test_clear_regression_fails_with_numbers_a_person_can_act_on() -> None:
    fake = FakeProvider(error_answers((80, 8000), (45, 2000)))
    outcome = look(fake, spec(), status())
    assert (outcome.verdict, outcome.action) == ("Fail", "Rollback")
    assert outcome.status is not None
    metric = outcome.status.metrics[0]
    assert metric.verdict == "Fail"
    assert (metric.samples.stable, metric.samples.candidate) == (8000, 2000)
    assert metric.estimate == pytest.approx(0.0125)
    assert metric.lower is not None
    assert metric.upper is not None
    assert 0 < metric.lower < 0.0125 < metric.upper
    assert metric.p_value is not None
    assert metric.p_value < 0.05
    assert metric.reason.startswith("errors: candidate 2.25% vs stable 1% (+1.25 pts, 90% CI ")
    assert metric.reason.endswith(" — worse than stable (p=0.0054); roll back")
    assert outcome.reason == metric.reason
    assert outcome.status.sample_ratio_p_value is not None
    assert outcome.status.sample_ratio_p_value > 0.001


def test_no_regression_passes_once_the_planned_sample_is_reached() -> None:
    fake = FakeProvider(error_answers((80, 8000), (20, 2000)))
    outcome = look(fake, spec(), status())
    assert outcome.verdict == "Pass"
    assert outcome.candidate_samples == 2000
    assert outcome.status is not None
    assert outcome.status.metrics[0].samples_needed == 0
    assert "— no harm detected (p=1) over 2000 candidate samples" in outcome.reason


def test_before_the_plan_is_inconclusive_and_says_how_many_more() -> None:
    fake = FakeProvider(error_answers((40, 4000), (10, 1000)))
    outcome = look(fake, spec(), status())
    assert outcome.verdict == "Inconclusive"
    assert outcome.candidate_samples == 1000
    assert outcome.status is not None
    assert outcome.status.metrics[0].samples_needed == 1000
    assert "1000 of 2000 candidate samples, needs 1000 more" in outcome.reason


@pytest.mark.parametrize("action", ["Hold", "Rollback"])
def test_sample_ratio_mismatch_distrusts_the_comparison(action: str) -> None:
    answers = error_answers((90, 9000), (10, 1000))  # 90/10 observed, 80/20 configured
    fake = FakeProvider(answers)
    earlier = AnalysisStatus(verdict="Inconclusive", updated_at="2026-03-01T12:01:00Z",
                             metrics=[{"name": "errors", "verdict": "Inconclusive",
                                       "p_value": 0.4}])
    outcome = look(fake, spec(sampleRatio={"action": action}), status(analysis=earlier))
    assert (outcome.verdict, outcome.action) == ("SampleRatioMismatch", action)
    assert "sample ratio mismatch" in outcome.reason
    assert outcome.status is not None
    assert outcome.status.sample_ratio_p_value is not None
    assert outcome.status.sample_ratio_p_value < 0.001
    metric = outcome.status.metrics[0]
    assert metric.verdict == "SampleRatioMismatch"
    assert metric.p_value == 0.4  # distrusted data does not move the sequential test


@pytest.mark.parametrize("weights", [(100, 0), (0, 100)])
def test_no_sample_ratio_check_without_a_live_split(weights: tuple[int, int]) -> None:
    fake = FakeProvider(error_answers((80, 8000), (20, 2000)))
    outcome = look(fake, spec(), status(weights=weights))
    assert outcome.verdict == "Pass"
    assert outcome.status is not None
    assert outcome.status.sample_ratio_p_value is None
    assert all(metric != "traffic" for metric, _, _ in fake.calls)


def test_missing_data_is_counted_and_the_policy_acts_after_max_consecutive() -> None:
    answers = error_answers((80, 8000), (20, 2000))
    answers[("errors", "candidate")] = Empty("sum(increase(...))")
    fake = FakeProvider(answers)
    policy = spec(onMissingData={"action": "Rollback", "maxConsecutive": 2})
    current, seen = status(), []
    for i in range(3):
        outcome = look(fake, policy, current, seconds=120 + 10 * i)
        assert outcome.status is not None
        seen.append((outcome.verdict, outcome.action, outcome.status.consecutive_missing))
        current = then(current, outcome)
    assert seen == [("NoData", "Hold", 1), ("NoData", "Hold", 2), ("NoData", "Rollback", 3)]
    assert "no data for candidate" in outcome.reason
    assert "3 consecutive look(s) with missing data (tolerated: 2; now roll back)" in \
        outcome.reason
    # Data again: the counter starts over.
    fake.answers = error_answers((80, 8000), (20, 2000))
    outcome = look(fake, policy, current, seconds=160)
    assert outcome.verdict == "Pass"
    assert outcome.status is not None
    assert outcome.status.consecutive_missing == 0


def test_hold_policy_holds_however_long_data_is_missing() -> None:
    fake = FakeProvider({})
    current = status()
    for i in range(8):
        outcome = look(fake, spec(), current, seconds=120 + 10 * i)
        assert (outcome.verdict, outcome.action) == ("NoData", "Hold")
        current = then(current, outcome)
    assert current.analysis is not None
    assert current.analysis.consecutive_missing == 8


def test_a_variant_without_traffic_is_no_data_never_a_pass() -> None:
    fake = FakeProvider(error_answers((80, 8000), (0, 0)))
    # (With a live split this is a sample ratio mismatch; without one it is no data.)
    outcome = look(fake, spec(step={"durationSeconds": 60}), status(weights=(100, 0)),
                   seconds=600)
    assert outcome.verdict == "NoData"
    assert outcome.status is not None
    assert outcome.status.consecutive_missing == 1
    assert "too few samples" in outcome.reason


def test_provider_errors_are_counted_keep_the_test_state_and_apply_the_policy() -> None:
    fake = FakeProvider(error_answers((80, 8000), (30, 2000)))
    policy = spec(onProviderError={"action": "Rollback", "maxConsecutive": 1},
                  step={"minSamples": 5000})
    first = look(fake, policy, status())
    assert first.verdict == "Inconclusive"
    assert first.status is not None
    kept = first.status.metrics[0]
    current = then(status(), first)
    fake.answers = {("errors", "stable"): DOWN}
    fake.calls.clear()
    seen = []
    for i in range(2):
        outcome = look(fake, policy, current, seconds=130 + 10 * i)
        assert outcome.status is not None
        seen.append((outcome.verdict, outcome.action, outcome.status.consecutive_errors))
        metric = outcome.status.metrics[0]
        assert metric.verdict == "Error"
        assert metric.p_value == kept.p_value  # nothing judged: the test state carries over
        current = then(current, outcome)
    assert seen == [("Error", "Hold", 1), ("Error", "Rollback", 2)]
    assert "Prometheus unreachable: connection refused" in outcome.reason
    # Once Prometheus is down, no other query waits for the same timeout.
    assert [(m, v) for m, v, _ in fake.calls] == [("errors", "stable")] * 2


def test_a_failing_query_is_an_error_and_an_empty_one_is_missing_data() -> None:
    answers = error_answers((80, 8000), (20, 2000))
    answers[("errors", "candidate")] = ProviderError("query", "bad(", "parse error")
    outcome = look(FakeProvider(answers), spec(), status())
    assert outcome.verdict == "Error"
    assert outcome.status is not None
    assert outcome.status.metrics[0].verdict == "Error"
    assert "query failed: parse error" in outcome.status.metrics[0].reason
    assert (outcome.status.consecutive_errors, outcome.status.consecutive_missing) == (1, 0)


def test_a_guardrail_failure_is_not_hidden_by_an_error_on_another_metric() -> None:
    metrics: list[dict[str, Any]] = [
        {"name": "errors", "template": "errorRate"},
        {"name": "slow", "template": "latencyOver", "thresholdMilliseconds": 250}]
    answers = error_answers((80, 8000), (60, 2000))
    answers[("slow", "stable")] = ProviderError("query", "q", "bad_data")
    outcome = look(FakeProvider(answers), spec(metrics), status())
    assert outcome.verdict == "Fail"
    assert outcome.status is not None
    assert [m.verdict for m in outcome.status.metrics] == ["Fail", "Error"]


def _gated() -> tuple[FakeProvider, ModelRolloutSpec]:
    """Fail needs 1000 candidate samples; the first look is strong evidence from 500."""
    fake = FakeProvider(error_answers((20, 2000), (30, 500)))
    return fake, spec(minSamples=1000, step={"minSamples": 5000})


def test_the_running_minimum_p_value_survives_between_looks_through_status() -> None:
    fake, gated = _gated()
    first = look(fake, gated, status())
    assert first.verdict == "Inconclusive"  # significant, but below minSamples
    assert first.status is not None
    p_first = first.status.metrics[0].p_value
    assert p_first is not None
    assert p_first < 0.05
    # The next look's own data is unremarkable; the always-valid p keeps its minimum.
    fake.answers = error_answers((40, 4000), (12, 1000))
    carried = look(fake, gated, then(status(), first), seconds=130)
    forgotten = look(fake, gated, status(), seconds=130)
    assert carried.verdict == "Fail"
    assert carried.status is not None
    assert carried.status.metrics[0].p_value == p_first
    assert forgotten.verdict == "Inconclusive"


def test_a_restarted_operator_gives_the_same_outcome_from_the_same_status() -> None:
    fake, gated = _gated()
    first = look(fake, gated, status())
    fake.answers = error_answers((40, 4000), (12, 1000))
    observation = observe(gated, then(status(), first), seconds=130)
    before = analyzer(fake).evaluate(ROLLOUT, observation)
    after = analyzer(fake).evaluate(ROLLOUT, observation)  # a new process, same status
    assert before == after


def test_a_status_older_than_the_step_is_not_carried_over() -> None:
    old = AnalysisStatus(verdict="Inconclusive", updated_at="2026-03-01T11:00:00Z",
                         consecutive_missing=7,
                         metrics=[{"name": "errors", "verdict": "Inconclusive",
                                   "p_value": 0.0001}])
    fake = FakeProvider(error_answers((40, 4000), (10, 1000)))
    outcome = look(fake, spec(), status(analysis=old))
    assert outcome.verdict == "Inconclusive"
    assert outcome.status is not None
    assert outcome.status.metrics[0].p_value != 0.0001
    assert outcome.status.consecutive_missing == 0


def test_a_window_too_short_for_increase_waits_without_counting_or_querying() -> None:
    fake = FakeProvider(error_answers((80, 8000), (20, 2000)))
    outcome = look(fake, spec(), status(), seconds=10)
    assert (outcome.verdict, outcome.action) == ("NoData", "Hold")
    assert "shorter than 30s" in outcome.reason
    assert outcome.status is not None
    assert outcome.status.consecutive_missing == 0
    assert fake.calls == []


def test_a_threshold_off_the_bucket_grid_is_a_clear_error_naming_the_field() -> None:
    metrics = [{"name": "slow", "template": "latencyOver", "thresholdMilliseconds": 300}]
    fake = FakeProvider({})
    outcome = look(fake, spec(metrics, onProviderError={"action": "Rollback",
                                                          "maxConsecutive": 1}), status())
    assert (outcome.verdict, outcome.action) == ("Error", "Hold")
    assert "spec.analysis.metrics[0].thresholdMilliseconds: 300 is not a bucket boundary" in \
        outcome.reason
    assert "250, 500" in outcome.reason
    assert fake.calls == []


def test_the_window_is_the_step_so_far_ending_now() -> None:
    fake = FakeProvider(error_answers((80, 8000), (20, 2000)))
    look(fake, spec(), status(), seconds=95.7)
    windows = {w for _, _, w in fake.calls}
    assert len(windows) == 1
    (window,) = windows
    assert (window.start, window.end) == (T0, T0 + timedelta(seconds=95.7))
    assert window.duration == "95s"


def test_statuses_stay_bounded() -> None:
    metrics = [{"name": f"m{i}", "template": "errorRate"} for i in range(20)]
    answers = {}
    for i in range(20):
        answers.update(error_answers((80, 8000), (45, 2000), name=f"m{i}"))
    outcome = look(FakeProvider(answers), spec(metrics), status())
    assert outcome.status is not None
    assert len(outcome.status.metrics) == 20
    assert all(len(m.reason) <= 1000 for m in outcome.status.metrics)
    assert len(outcome.reason) <= 2000
    AnalysisStatus.model_validate(outcome.status.model_dump(by_alias=True))


def test_traffic_counts_are_read_once_per_variant() -> None:
    fake = FakeProvider(error_answers((80, 8000), (20, 2000)))
    look(fake, spec(), status())
    assert sorted((m, v) for m, v, _ in fake.calls) == [
        ("errors", "candidate"), ("errors", "stable"),
        ("traffic", "candidate"), ("traffic", "stable")]


def test_counts_from_increase_may_be_fractional() -> None:
    fake = FakeProvider(error_answers((80.4, 8000.6), (19.6, 1999.8)))
    outcome = look(fake, spec(), status())
    assert outcome.status is not None
    assert outcome.status.metrics[0].samples.candidate == 2000
    assert isinstance(fake.answers[("errors", "stable")], Counts)
