"""The verdict lines people read: what was tested and the answer, in words and numbers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from controller.analysis.provider import BucketCounts, Counts, Summary
from controller.analysis.verdict_words import ci_level_text, p_text
from controller.api.status import MetricResult
from controller.contract.metrics import LATENCY_BUCKETS
from tests.doubles import FakeProvider
from tests.unit.analysis.looks import look, spec, status

pytestmark = pytest.mark.unit

TRAFFIC = {("traffic", "stable"): Counts(0, 8000), ("traffic", "candidate"): Counts(0, 2000)}
ERRORS = {"name": "errors", "template": "errorRate", "toleranceBasisPoints": 50}
ACCURACY = {"name": "accuracy", "template": "feedbackAccuracy", "role": "Success",
            "toleranceBasisPoints": 200}
IMPROVE = {"name": "accuracy", "template": "feedbackAccuracy", "role": "Success",
           "goal": "Improve"}
STABLE_ACCURACY = (7136, 8000)  # 89.2%


def judged(metric: dict[str, Any], answers: dict[str, Any], *, mirror: bool = False,
           **analysis: Any) -> MetricResult:
    name = metric["name"]
    fake = FakeProvider({**TRAFFIC, **{(name, variant): answer
                                       for variant, answer in answers.items()}})
    outcome = look(fake, spec([metric], mirror=mirror, **analysis), status())
    assert outcome.status is not None
    return outcome.status.metrics[0]


def counted(metric: dict[str, Any], stable: tuple[float, float], candidate: tuple[float, float],
            **analysis: Any) -> MetricResult:
    return judged(metric, {"stable": Counts(*stable), "candidate": Counts(*candidate)},
                  **analysis)


# --- guardrails -------------------------------------------------------------------------------

@pytest.mark.parametrize(("candidate", "verdict", "line"), [
    ((9, 2000), "Pass",
     "errors: candidate 0.45% vs stable 0.4% (+0.05 pts, 90% CI -0.41..+0.51"
     "; lift +12.5% (-100%..+130%)) — no harm "
     "detected beyond +0.5 pts (p=1) over 2000 candidate samples"),
    ((40, 2000), "Fail",
     "errors: candidate 2% vs stable 0.4% (+1.60 pts, 90% CI +0.71..+2.49"
     "; lift +400% (+73.8%..+726%)) — worse: harm "
     "above +0.5 pts (p=0.0084); roll back"),
    ((5, 1000), "Inconclusive",
     "errors: candidate 0.5% vs stable 0.4% (+0.10 pts, 90% CI -0.56..+0.76"
     "; lift +25% (-100%..+194%)) — no harm "
     "detected beyond +0.5 pts so far (p=1); 1000 of 2000 candidate samples, needs 1000 more"),
], ids=["pass", "fail", "inconclusive"])
def test_a_guardrail_says_what_harm_was_tested_and_the_answer(
        candidate: tuple[int, int], verdict: str, line: str) -> None:
    result = counted(ERRORS, (32, 8000), candidate)
    assert (result.verdict, result.reason) == (verdict, line)


def test_a_clearly_better_guardrail_says_better_not_just_p_1() -> None:
    result = counted(ERRORS, (80, 8000), (2, 2000))
    assert result.verdict == "Pass"
    assert result.reason == (
        "errors: candidate 0.1% vs stable 1% (-0.90 pts, 90% CI -1.26..-0.54"
        "; lift -90% (-100%..-70.2%)) — better "
        "than stable; no harm detected beyond +0.5 pts (p=1) over 2000 candidate samples")


def test_worse_than_stable_but_within_the_tolerance_says_both() -> None:
    result = counted(ERRORS, (320, 80_000), (150, 20_000))
    assert result.verdict == "Pass"
    assert result.reason == (
        "errors: candidate 0.75% vs stable 0.4% (+0.35 pts, 90% CI +0.16..+0.54"
        "; lift +87.5% (+32.1%..+143%)) — worse than "
        "stable; no harm detected beyond +0.5 pts (p=1) over 20000 candidate samples")


def test_harm_shown_before_a_guardrail_may_fail_says_so() -> None:
    result = counted(ERRORS, (32, 8000), (30, 300), minSamples=500)
    assert result.verdict == "Inconclusive"
    assert result.reason.endswith(
        "— worse so far: harm above +0.5 pts (p=7.1e-4), but a guardrail fails only from 500 "
        "candidate samples; 300 of 2000 candidate samples, needs 1700 more")


def test_a_guardrail_without_tolerance_is_judged_against_stable_itself() -> None:
    strict = {"name": "errors", "template": "errorRate"}
    assert counted(strict, (80, 8000), (45, 2000)).reason.endswith(
        "— worse than stable (p=0.0054); roll back")
    assert counted(strict, (80, 8000), (20, 2000)).reason.endswith(
        "— no harm detected (p=1) over 2000 candidate samples")


# --- success metrics: goal NotWorse (the default) ---------------------------------------------

@pytest.mark.parametrize(("candidate", "verdict", "answer"), [
    ((1830, 2000), "Pass",
     "candidate 91.5% vs stable 89.2% (+2.3 pts, 90% CI +0.3..+4.3"
     "; lift +2.58% (+0.352%..+4.8%)) — better; not worse than "
     "-2 pts (p=1.9e-7)"),
    ((1946, 2000), "Pass",
     "candidate 97.3% vs stable 89.2% (+8.1 pts, 90% CI +6.7..+9.5"
     "; lift +9.08% (+7.46%..+10.7%)) — better; not worse than "
     "-2 pts (p<1e-15)"),
    ((1600, 2000), "Inconclusive",
     "candidate 80% vs stable 89.2% (-9.2 pts, 90% CI -11.9..-6.5"
     "; lift -10.3% (-13.3%..-7.38%)) — worse: below -2 pts "
     "(p=1)"),
    ((446, 500), "Inconclusive",
     "candidate 89.2% vs stable 89.2% (0.0 pts, 90% CI -4.3..+4.3"
     "; lift +0% (-4.8%..+4.8%)) — inconclusive: could still "
     "be worse than -2 pts (p=0.51); 500 of 3364 candidate samples, needs 2864 more"),
], ids=["better", "much-better", "worse", "inconclusive"])
def test_a_success_metric_says_better_not_worse_or_worse(
        candidate: tuple[int, int], verdict: str, answer: str) -> None:
    result = counted(ACCURACY, STABLE_ACCURACY, candidate)
    assert (result.verdict, result.reason) == (verdict, f"accuracy: {answer}")


def test_not_worse_without_being_better_says_only_not_worse() -> None:
    metric = {**ACCURACY, "toleranceBasisPoints": 300}
    result = counted(metric, STABLE_ACCURACY, (1784, 2000))
    assert result.verdict == "Pass"
    assert result.reason == ("accuracy: candidate 89.2% vs stable 89.2% (0.0 pts, 90% CI "
                             "-2.1..+2.1"
                             "; lift +0% (-2.41%..+2.41%)) — not worse than -3 pts (p=0.0021)")


# --- success metrics: goal Improve --------------------------------------------------------------

@pytest.mark.parametrize(("metric", "candidate", "verdict", "answer"), [
    (IMPROVE, (1830, 2000), "Pass",
     "(+2.3 pts, 90% CI +0.3..+4.3; lift +2.58% (+0.352%..+4.8%)) — better than stable (p=0.015)"),
    (IMPROVE, (1784, 2000), "Inconclusive",
     "(0.0 pts, 90% CI -2.1..+2.1"
     "; lift +0% (-2.41%..+2.41%)) — not shown better (p=1) over 2000 candidate samples"),
    ({**IMPROVE, "minimumEffectBasisPoints": 300}, (1784, 2000), "Inconclusive",
     "(0.0 pts, 90% CI -2.1..+2.1"
     "; lift +0% (-2.41%..+2.41%)) — not shown better (p=1), although 2000 candidate samples "
     "would show an improvement of +3 pts (80% power): probably not better by that much"),
    (IMPROVE, (1700, 2000), "Inconclusive",
     "(-4.2 pts, 90% CI -6.6..-1.8"
     "; lift -4.71% (-7.39%..-2.03%)) — worse than stable (p=1): not better"),
    (IMPROVE, (446, 500), "Inconclusive",
     "(0.0 pts, 90% CI -4.3..+4.3"
     "; lift +0% (-4.8%..+4.8%)) — inconclusive: not yet shown better (p=1); 500 of 2000 "
     "candidate samples, needs 1500 more"),
    (IMPROVE, (470, 500), "Inconclusive",
     "(+4.8 pts, 90% CI +1.5..+8.1"
     "; lift +5.38% (+1.61%..+9.15%)) — better than stable so far (p=0.0025); 500 of 2000 "
     "candidate samples, needs 1500 more"),
], ids=["pass", "equal", "equal-with-minimum-effect", "worse", "inconclusive", "early"])
def test_goal_improve_says_whether_the_candidate_is_better(
        metric: dict[str, Any], candidate: tuple[int, int], verdict: str, answer: str) -> None:
    result = counted(metric, STABLE_ACCURACY, candidate)
    assert result.verdict == verdict
    assert result.reason.endswith(answer), result.reason


# --- units: latency shares, the slower-probability, value metrics --------------------------------

def latencies(median: float, n: int, seed: int) -> BucketCounts:
    values = np.random.default_rng(seed).lognormal(math.log(median), 0.5, n)
    bounds = (*LATENCY_BUCKETS, math.inf)
    return BucketCounts(tuple((b, float(np.sum(values <= b))) for b in bounds),
                        float(values.sum()))


def test_a_latency_share_is_in_points_of_requests_slower_than_the_slo() -> None:
    metric = {"name": "slow", "template": "latencyOver", "thresholdMilliseconds": 250,
              "toleranceBasisPoints": 100}
    result = judged(metric, {"stable": latencies(0.08, 8000, 1),
                             "candidate": latencies(0.08, 2000, 2)})
    assert result.reason.startswith(
        "slow: candidate 1.15% vs stable 1.1% slower than 250 ms (+0.05 pts, 90% CI "
        "-0.68..+0.78"
        "; lift +4.55% (-62.8%..+71.9%)) — no harm detected beyond +1 pts (p=1) over 2000 "
        "candidate samples; "
        "mean latency candidate 88.09 ms vs stable 90.14 ms; bucket χ² p=0.34")


def test_the_slower_probability_is_in_points_of_request_pairs() -> None:
    metric = {"name": "latency", "template": "latencyShift", "toleranceBasisPoints": 100}
    result = judged(metric, {"stable": latencies(0.08, 8000, 1),
                             "candidate": latencies(0.088, 2000, 2)})
    assert result.reason.startswith(
        "latency: candidate slower than stable in 53.4% of request pairs (no shift: 50%) "
        "(+3.4 pts, 90% CI +1.6..+5.3) — worse: harm above +1 pts (p=0.0035); roll back; "
        "mean latency candidate 96.9 ms vs stable 90.14 ms; bucket χ² p=6.7e-6")


def points(rng: np.random.Generator, mean: float, n: int = 40, sd: float = 0.01) -> Summary:
    values = rng.normal(mean, sd, n)
    return Summary(float(n), float(values.sum()), float((values**2).sum()))


VALUE = {"name": "score", "query": {"value": 'avg(score{variant="{{variant}}"})'},
         "direction": "HigherIsBetter", "toleranceBasisPoints": 100}


def test_a_value_metric_is_a_relative_change_of_the_stable_mean() -> None:
    rng = np.random.default_rng(5)
    result = judged(VALUE, {"stable": points(rng, 0.80), "candidate": points(rng, 0.80)})
    assert result.reason == (
        "score: candidate 0.7999 vs stable 0.7968 (+0.39%, 90% CI -0.32..+1.09) — no harm "
        "detected beyond -1% (p=1) over 40 candidate samples")


def test_a_value_metric_never_falls_below_minus_100_percent() -> None:
    rng = np.random.default_rng(5)
    result = judged(VALUE, {"stable": points(rng, 0.80, 40, 0.5),
                            "candidate": points(rng, 0.30, 10, 0.5)})
    assert result.reason == (
        "score: candidate 0.1329 vs stable 0.6389 (-79%, 90% CI -100..+3) — no harm detected "
        "beyond -1% so far (p=0.064); 10 of 30 candidate samples, needs 20 more")
    assert result.lower == pytest.approx(-0.6389, abs=1e-4)  # the candidate's mean >= 0


# --- small samples -------------------------------------------------------------------------------

def test_a_tiny_candidate_sample_never_gets_an_interval_beyond_100_points() -> None:
    result = counted(ERRORS, (32, 8000), (1, 3))
    assert (result.lower, result.upper) == (-1.0, 1.0)  # stored clipped, too
    assert result.reason == (
        "errors: candidate 33.3% vs stable 0.4% (+33 pts, 90% CI -100..+100"
        "; lift +8233% (-100%..+158747%)) — no harm detected "
        "beyond +0.5 pts so far (p=0.91); 3 of 2000 candidate samples, needs 1997 more")


def test_agreement_with_perfect_agreement_can_only_fall() -> None:
    metric = {"name": "agree", "template": "shadowAgreement", "toleranceBasisPoints": 200}
    result = judged(metric, {"candidate": Counts(3, 3)}, mirror=True)
    assert (result.lower, result.upper) == (-1.0, 0.0)
    assert "(0 pts, 90% CI -100..0)" in result.reason


# --- numbers -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("p", "text"), [
    (1.0, "p=1"), (0.41, "p=0.41"), (0.0084, "p=0.0084"), (0.001, "p=0.001"),
    (0.00081, "p=8.1e-4"), (3e-9, "p=3e-9"), (1.23e-12, "p=1.2e-12"), (4e-77, "p<1e-15"),
    (0.0, "p<1e-15"),
])
def test_p_values_are_compact(p: float, text: str) -> None:
    assert p_text(p) == text


@pytest.mark.parametrize(("alpha_bp", "level"), [(500, "90%"), (1000, "80%"), (250, "95%"),
                                                  (1, "99.98%")])
def test_the_interval_level_is_the_confidence_sequence_level_of_the_test(
        alpha_bp: int, level: str) -> None:
    result = counted(ERRORS, (32, 8000), (9, 2000), significanceBasisPoints=alpha_bp)
    assert f"({'+' if result.estimate else ''}0.05 pts, {level} CI " in result.reason
    assert ci_level_text(1 - 2 * alpha_bp / 10_000) == level
