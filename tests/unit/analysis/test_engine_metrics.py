"""Each template and custom form through the analyzer, and the analyzer driving the machine."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from controller.analysis.provider import (
    BucketCounts,
    Counts,
    Empty,
    ProviderError,
    Summary,
    Window,
)
from controller.contract.metrics import LATENCY_BUCKETS
from controller.rollout.model import AnalysisOutcome
from tests.doubles import FakeProvider
from tests.unit.analysis.looks import look, spec, status
from tests.unit.analysis.simulated import rollout
from tests.unit.rollout.world import World, settled

pytestmark = pytest.mark.unit

TRAFFIC = {("traffic", "stable"): Counts(0, 8000), ("traffic", "candidate"): Counts(0, 2000)}


def histogram(values: np.ndarray) -> BucketCounts:
    bounds = (*LATENCY_BUCKETS, math.inf)
    return BucketCounts(tuple((b, float(np.sum(values <= b))) for b in bounds),
                     float(values.sum()))


def latencies(median: float, n: int, seed: int) -> BucketCounts:
    return histogram(np.random.default_rng(seed).lognormal(math.log(median), 0.5, n))


def one(metric: dict[str, Any], answers: dict[tuple[str, str], Any], *, mirror: bool = False
        ) -> AnalysisOutcome:
    fake = FakeProvider({**TRAFFIC, **answers})
    return look(fake, spec([metric], mirror=mirror), status())


@pytest.mark.parametrize(("agree", "verdict"), [(1900, "Fail"), (1995, "Pass")])
def test_shadow_agreement_is_judged_against_perfect_agreement(agree: int, verdict: str
                                                              ) -> None:
    metric = {"name": "agree", "template": "shadowAgreement", "toleranceBasisPoints": 200}
    outcome = one(metric, {("agree", "candidate"): Counts(agree, 2000)}, mirror=True)
    assert outcome.verdict == verdict
    assert outcome.status is not None
    result = outcome.status.metrics[0]
    assert (result.samples.stable, result.samples.candidate) == (0, 2000)
    assert f"candidate agrees {100 * agree / 2000:.3g}% with stable on the same requests " \
        "(floor 98%)" in result.reason


@pytest.mark.parametrize(("candidate_median", "verdict"), [(0.088, "Fail"), (0.08, "Pass")])
def test_latency_shift_fails_a_ten_percent_slower_candidate(candidate_median: float,
                                                            verdict: str) -> None:
    metric = {"name": "latency", "template": "latencyShift", "toleranceBasisPoints": 100}
    outcome = one(metric, {("latency", "stable"): latencies(0.08, 8000, 1),
                           ("latency", "candidate"): latencies(candidate_median, 2000, 2)})
    assert outcome.verdict == verdict
    assert "candidate slower than stable in " in outcome.reason
    assert "mean latency candidate " in outcome.reason


def test_latency_over_compares_the_share_slower_than_the_slo() -> None:
    metric = {"name": "slow", "template": "latencyOver", "thresholdMilliseconds": 250}
    outcome = one(metric, {("slow", "stable"): latencies(0.08, 8000, 1),
                           ("slow", "candidate"): latencies(0.16, 2000, 2)})
    assert outcome.verdict == "Fail"
    assert outcome.status is not None
    assert "slower than 250 ms" in outcome.status.metrics[0].reason


def test_feedback_accuracy_as_a_success_metric_must_be_shown_non_inferior() -> None:
    metric = {"name": "accuracy", "template": "feedbackAccuracy", "role": "Success",
              "toleranceBasisPoints": 100}
    shown = one(metric, {("accuracy", "stable"): Counts(72_000, 80_000),
                         ("accuracy", "candidate"): Counts(18_000, 20_000)})
    assert shown.verdict == "Pass"
    assert "— not worse than -1 pts (p=6.5e-4)" in shown.reason
    too_few = one(metric, {("accuracy", "stable"): Counts(720, 800),
                           ("accuracy", "candidate"): Counts(2000, 2000 + 222)})
    assert too_few.verdict != "Pass"


def test_custom_value_form_compares_the_mean_of_evaluations() -> None:
    metric = {"name": "score", "query": {"value": 'avg(score{variant="{{variant}}"})'},
              "direction": "HigherIsBetter", "toleranceBasisPoints": 100}
    rng = np.random.default_rng(5)

    def points(mean: float) -> Summary:
        values = rng.normal(mean, 0.01, 40)
        return Summary(40.0, float(values.sum()), float((values**2).sum()))

    worse = one(metric, {("score", "stable"): points(0.80), ("score", "candidate"):
                         points(0.70)})
    assert worse.verdict == "Fail"
    assert "— worse: harm below -1% (p<1e-15); roll back" in worse.reason
    # Evaluation points are not requests: they do not feed the step's minSamples.
    assert worse.candidate_samples == 40


def test_custom_ratio_with_an_empty_numerator_is_missing_not_zero() -> None:
    metric = {"name": "custom", "query": {"numerator": 'e{v="{{variant}}"}',
                                          "denominator": 'r{v="{{variant}}"}'},
              "direction": "LowerIsBetter"}
    outcome = one(metric, {("custom", "stable"): Empty("e"), ("custom", "candidate"):
                           Counts(1, 100)})
    assert outcome.verdict == "NoData"


# --- the analyzer driving the state machine -----------------------------------------------

RATE = {"stable": 20.0, "candidate": 5.0}  # requests per second at 80/20


def router(error_rates: dict[str, float]) -> FakeProvider:
    """Counts that grow with the window, as a router's counters would."""
    answers: dict[tuple[str, str], Any] = {}
    for variant, per_second in RATE.items():
        def counts(window: Window, r: float = per_second, e: float = error_rates[variant]
                   ) -> Counts:
            return Counts(r * window.seconds * e, r * window.seconds)

        def requests(window: Window, r: float = per_second) -> Counts:
            return Counts(0, r * window.seconds)

        answers[("errors", variant)] = counts
        answers[("traffic", variant)] = requests
    return FakeProvider(answers)


def world_with(fake: FakeProvider, **analysis: Any) -> World:
    """A 20% canary with a 900 s analysis step, judged on errors with `fake`."""
    return rollout(fake, **analysis)


def test_a_regression_is_rolled_back_within_a_few_intervals() -> None:
    world = world_with(router({"stable": 0.01, "candidate": 0.03}))
    world.run_until(lambda w: w.status.current_step_index == 1)
    started = world.now
    world.run_until(settled)
    assert world.status.history[-1].outcome == "RolledBack"
    assert re.match(r"errors: candidate [23](\.\d+)?% vs stable 1% \(\+",
                    world.status.history[-1].message)
    assert world.now - started <= timedelta(seconds=300)


def test_a_healthy_candidate_is_watched_for_the_whole_step_then_promoted() -> None:
    world = world_with(router({"stable": 0.01, "candidate": 0.01}))
    world.run_until(lambda w: w.status.current_step_index == 1)
    started = world.now
    world.run_until(lambda w: w.status.current_step_index == 2)
    assert world.now - started >= timedelta(seconds=900)
    last = [p.status.analysis for p in world.plans if p.status.analysis][-1]
    assert last.verdict == "Inconclusive"
    world.run_until(settled)
    assert world.status.history[-1].outcome == "Promoted"


def test_a_sample_sized_step_passes_as_soon_as_the_plan_is_reached() -> None:
    world = world_with(router({"stable": 0.01, "candidate": 0.01}))
    steps = world.spec["strategy"]["canary"]["steps"]
    steps[1] = {"analysis": {"minSamples": 3000}}
    world.run_until(lambda w: w.status.current_step_index == 1)
    started = world.now
    world.run_until(lambda w: w.status.current_step_index == 2)
    # 5 candidate requests a second: 3000 samples after 600 s, and a Pass ends the step.
    assert timedelta(seconds=600) <= world.now - started <= timedelta(seconds=660)


def test_prometheus_down_never_promotes_and_rolls_back_by_policy() -> None:
    fake = FakeProvider({("errors", "stable"): ProviderError("unreachable", "q", "refused")})
    world = world_with(fake, onProviderError={"action": "Rollback", "maxConsecutive": 3})
    world.run_until(settled)
    assert world.status.history[-1].outcome == "RolledBack"
    assert world.status.history[-1].reason == "AnalysisProviderError"
    assert "Prometheus unreachable: refused" in world.status.history[-1].message


# --- a Success metric without a tolerance: superiority -------------------------------------

SUPERIORITY = {"name": "accuracy", "template": "feedbackAccuracy", "role": "Success"}


def test_a_success_metric_without_tolerance_passes_a_candidate_shown_better() -> None:
    better = one(SUPERIORITY, {("accuracy", "stable"): Counts(72_000, 80_000),
                               ("accuracy", "candidate"): Counts(18_600, 20_000)})
    assert better.verdict == "Pass"
    assert "better than stable" in better.reason
    assert better.status is not None
    assert better.status.metrics[0].test == (
        "two proportions, mSPRT: better than stable (superiority)")


def test_a_success_metric_without_tolerance_never_passes_an_equal_candidate() -> None:
    equal = one(SUPERIORITY, {("accuracy", "stable"): Counts(72_000, 80_000),
                              ("accuracy", "candidate"): Counts(18_000, 20_000)})
    assert equal.verdict == "Inconclusive"  # a verdict, not a configuration Error
    assert "not shown better" in equal.reason


def test_superiority_sized_by_the_minimum_effect_says_how_many_more_samples() -> None:
    metric = {**SUPERIORITY, "minimumEffectBasisPoints": 100}
    few = one(metric, {("accuracy", "stable"): Counts(7_200, 8_000),
                       ("accuracy", "candidate"): Counts(1_800, 2_000)})
    assert few.verdict == "Inconclusive"
    assert few.status is not None
    assert few.status.metrics[0].samples_needed is not None
    assert 1000 < few.status.metrics[0].samples_needed < 100_000
    assert "not yet shown better" in few.reason
