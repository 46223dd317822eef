"""The terminal views of `list` and `status`, for the status shapes a rollout goes through."""

from __future__ import annotations

import re

import pytest

from controller.plugin.facts import StepInfo, duration, step_info
from controller.plugin.text import Style
from controller.plugin.view import render_list, render_status
from tests.unit.plugin import samples
from tests.unit.plugin.samples import NOW

pytestmark = pytest.mark.unit

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def line_with(text: str, words: str) -> str:
    return next(line for line in text.splitlines() if words in line)


def test_empty_status_says_the_operator_has_not_reported() -> None:
    text = render_status(samples.rollout(), [], NOW)
    assert "ModelRollout ml/fraud" in text
    assert "observed -" in text
    assert "has not reported a status yet" in text
    assert "Step:       - (no rollout in progress)" in text
    assert "Events: none." in text
    assert "Conditions" not in text
    assert "Analysis" not in text


def test_canary_in_analysis_shows_step_weights_mirrors_and_verdicts() -> None:
    text = render_status(samples.in_analysis(), samples.EVENTS, NOW)
    assert "Revisions:  stable 5d8f7c  candidate 9a1b2c  rejected -" in text
    assert ("Step:       3/5  analysis for up to 5m with at least 500 candidate samples  "
            "(for 45s)") in text
    assert "stable 90%  candidate 10%  [##..................]  mirrors: shadow-a 50%" in text
    assert "Analysis:   Inconclusive, updated 12s ago, sample ratio p=0.41" in text
    accuracy = line_with(text, "accuracy  ")
    assert accuracy.split() == ["accuracy", "Inconclusive", "4,100", "455", "-0.012",
                                "[-0.05,", "+0.021]", "0.23", "1,800"]
    reason_index = text.splitlines().index(accuracy) + 1
    assert text.splitlines()[reason_index].strip() == "not enough samples yet"
    # conditions in a fixed order, whatever order the API returned them in
    order = [line.split()[0] for line in text.split("Conditions:\n")[1].splitlines()[1:5]]
    assert order == ["Progressing", "Paused", "Healthy", "Degraded"]


def test_rolled_back_shows_the_statistical_reason_and_history() -> None:
    text = render_status(samples.rolled_back(), samples.EVENTS, NOW)
    assert "Phase:      Degraded" in text
    assert "rejected 9a1b2c" in text
    assert "Analysis:   Fail, updated 10m ago" in text
    assert line_with(text, "accuracy  Fail").split()[2:] == [
        "5,012", "498", "-0.2481", "[-0.2902,", "-0.2061]", "<0.0001", "-"]
    assert "accuracy: candidate worse than stable by 24.8 points" in text
    history = text.split("History (newest first):\n")[1].splitlines()
    assert history[1].split()[:4] == ["9a1b2c", "RolledBack", "AnalysisFailed", "10m"]
    assert history[2].split()[:2] == ["1f2e3d", "Promoted"]
    assert "Degraded     True    AnalysisFailed" in text


def test_events_are_in_time_order_and_warnings_kept() -> None:
    text = render_status(samples.rolled_back(), samples.EVENTS, NOW)
    events = text.split("Events (last 3):\n")[1].splitlines()[1:]
    assert [e.split()[2] for e in events] == ["RolloutStarted", "StepCompleted",
                                              "AnalysisFailed"]
    assert events[2].split()[:2] == ["10m", "Warning"]


@pytest.mark.parametrize(("step", "expected"), [
    (0, "1/2  preview: the candidate answers on ranker-candidate only; analysis for up to 2m"),
    (1, "2/2  switch: waiting for promote"),
])
def test_blue_green_steps(step: int, expected: str) -> None:
    text = render_status(samples.blue_green(step), None, NOW)
    assert f"Step:       {expected}" in text
    assert "(blueGreen," in text
    assert "Events: not readable with these credentials." in text


@pytest.mark.parametrize(("step", "text"), [
    ({"setWeight": 25}, "setWeight 25%: the candidate serves 25% live"),
    ({"pause": {}}, "pause until promoted"),
    ({"pause": {"durationSeconds": 90}}, "pause for 90s"),
    ({"mirror": {"percent": 100, "durationSeconds": 600}},
     "mirror 100% of requests to the candidate (0% live) for 10m"),
    ({"analysis": {"minSamples": 2000}}, "analysis with at least 2,000 candidate samples"),
    ({"chaos": {"fractionBasisPoints": 3000, "errorStatus": 500, "addedLatencyMilliseconds": 250,
                "durationSeconds": 60}},
     "chaos: 30% of the candidate's requests get HTTP 500 and +250ms for 60s"),
    ({"chaos": {"fractionBasisPoints": 10000, "errorStatus": 503, "durationSeconds": 60,
                "segment": "beta"}},
     "chaos: 100% of the candidate's requests of segment beta get HTTP 503 for 60s"),
])
def test_canary_step_descriptions(step: dict[str, object], text: str) -> None:
    rollout = samples.rollout(strategy={"canary": {"steps": [step]}},
                              status={"candidateRevision": "x", "currentStepIndex": 0})
    assert step_info(rollout) == StepInfo(1, 1, text)


def test_no_step_without_a_candidate() -> None:
    assert step_info(samples.rolled_back()) is None


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5s"), (119, "119s"), (200, "3m20s"), (600, "10m"), (3 * 3600 + 1200, "3h20m"),
    (20 * 3600, "20h"), (3 * 86400 + 4 * 3600, "3d4h"), (12 * 86400, "12d"), (-3, "0s"),
])
def test_durations_read_like_kubectl(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_list_all_namespaces() -> None:
    rollouts = [samples.in_analysis(), samples.rolled_back(), samples.blue_green(),
                samples.rollout("fresh")]
    lines = render_list(rollouts, NOW, all_namespaces=True, namespace="ml").splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "PHASE", "STABLE", "CANDIDATE", "WEIGHT",
                                "STEP", "ANALYSIS", "AGE"]
    assert lines[1].split() == ["ml", "fraud", "Progressing", "5d8f7c", "9a1b2c", "10%", "3/5",
                                "Inconclusive", "60m"]
    assert lines[2].split() == ["ml", "fraud", "Degraded", "5d8f7c", "-", "-", "-", "Fail",
                                "60m"]
    assert lines[4].split() == ["ml", "fresh", "-", "-", "-", "-", "-", "-", "60m"]


def test_list_empty_names_where_it_looked() -> None:
    assert render_list([], NOW, False, "ml") == "No modelrollouts found in namespace ml."
    assert render_list([], NOW, True, "ml") == "No modelrollouts found in any namespace."


def test_colour_codes_never_break_alignment() -> None:
    plain = render_status(samples.in_analysis(), samples.EVENTS, NOW)
    coloured = render_status(samples.in_analysis(), samples.EVENTS, NOW, Style(color=True))
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain
