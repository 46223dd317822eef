"""status.analysisHistory: each look kept per step, bounded in looks and in steps, thinned
oldest first; the whole status stays within the CRD's bounds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.api.status import (
    ANALYSIS_HISTORY_MAX_STEPS,
    LOOKS_PER_STEP_MAX,
    AnalysisLook,
    AnalysisStatus,
    MetricResult,
    ModelRolloutStatus,
    Traffic,
    VariantSamples,
)
from controller.rollout import looks
from tests.unit.analysis.simulated import counters, errors_at, rollout
from tests.unit.rollout.world import settled, with_image

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def analysis(seconds: float, n: int = 10) -> AnalysisStatus:
    return AnalysisStatus(verdict="Inconclusive", updated_at=stamp(seconds), metrics=[
        MetricResult(name=f"m{i}", verdict="Inconclusive", samples=VariantSamples(
            stable=n, candidate=n), estimate=0.01, lower=-0.02, upper=0.04, p_value=0.3,
            reason="x" * 2000) for i in range(20)])


def test_a_look_keeps_numbers_and_traffic_not_words() -> None:
    traffic = Traffic(stable_weight=80, candidate_weight=20)
    look = looks.snapshot(analysis(0), traffic)
    assert (look.candidate_weight, look.stable_weight, len(look.metrics)) == (20, 80, 20)
    assert look.metrics[0].estimate == 0.01
    assert look.metrics[0].samples.candidate == 10
    assert "reason" not in look.model_dump(by_alias=True)["metrics"][0]


def test_looks_are_thinned_oldest_first_keeping_the_first_and_last() -> None:
    history: list[Any] = []
    for k in range(100):
        history = looks.recorded(history, 2, "analysis", looks.snapshot(analysis(15 * k), None))
    (step,) = history
    times = [(datetime.fromisoformat(x.at.replace("Z", "+00:00")) - T0).total_seconds()
             for x in step.looks]
    assert len(times) == LOOKS_PER_STEP_MAX
    assert times[0] == 0
    assert times[-1] == 15 * 99
    assert times == sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= 4 * min(gaps)  # spread over the whole step, not only the newest


def test_the_same_look_twice_is_kept_once() -> None:
    look = looks.snapshot(analysis(0), None)
    history = looks.recorded(looks.recorded([], 0, "analysis", look), 0, "analysis", look)
    assert len(history[0].looks) == 1


def test_only_the_newest_steps_are_kept_and_the_status_stays_bounded() -> None:
    history: list[Any] = []
    for index in range(ANALYSIS_HISTORY_MAX_STEPS + 5):
        for k in range(LOOKS_PER_STEP_MAX + 3):
            look = looks.snapshot(analysis(1000 * index + k), Traffic())
            history = looks.recorded(history, index, "analysis", look)
    assert len(history) == ANALYSIS_HISTORY_MAX_STEPS
    assert [s.index for s in history] == list(range(5, 5 + ANALYSIS_HISTORY_MAX_STEPS))
    assert all(len(s.looks) == LOOKS_PER_STEP_MAX for s in history)
    status = ModelRolloutStatus(analysis_history=history)  # validates every bound
    size = len(status.model_dump_json(by_alias=True, exclude_none=True))
    assert size < 1_000_000, size  # worst case (20 metrics a look) under etcd's 1.5 MiB


def test_limits_are_in_the_crd() -> None:
    schema = ModelRolloutStatus.model_json_schema(by_alias=True)
    assert schema["properties"]["analysisHistory"]["maxItems"] == ANALYSIS_HISTORY_MAX_STEPS
    looks_schema = schema["$defs"]["StepAnalysis"]["properties"]["looks"]
    assert looks_schema["maxItems"] == LOOKS_PER_STEP_MAX
    assert AnalysisLook.model_json_schema()["properties"]["metrics"]["maxItems"] == 20


def test_the_machine_records_every_look_and_a_new_rollout_starts_afresh() -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 20}, {"analysis": {"durationSeconds": 300}},
                                   {"setWeight": 100}]
    world = rollout(counters(errors_at(0.01, 0.01), {"stable": 20.0, "candidate": 5.0}), steps)
    world.run_until(settled)
    (step,) = world.status.analysis_history
    assert (step.index, step.step) == (1, "analysis")
    assert 2 <= len(step.looks) <= LOOKS_PER_STEP_MAX
    assert all(look.candidate_weight == 20 for look in step.looks)
    assert [m.name for m in step.looks[-1].metrics] == ["errors"]
    seen = [look.metrics[0].samples.candidate for look in step.looks if look.metrics]
    assert len(seen) >= 2
    assert seen == sorted(seen)
    assert seen[-1] > seen[0]
    world.edit(with_image(world.spec, "model:3"))
    world.tick()
    assert world.status.analysis_history == []
