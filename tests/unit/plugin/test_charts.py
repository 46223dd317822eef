"""The report's plots (controller/plugin/charts.py): one SVG per plot, each with its axis
titles, readable ticks and its data; one look is a point with an error bar."""

from __future__ import annotations

import re
from typing import Any

import pytest

from controller.plugin import charts
from controller.plugin.report import render_report
from tests.unit.plugin import samples
from tests.unit.plugin.samples import NOW

pytestmark = pytest.mark.unit


def svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.DOTALL)


def texts(svg: str) -> list[str]:
    """The text matplotlib wrote (svg.fonttype none keeps it as <text>)."""
    return [re.sub(r"<[^>]+>", "", t).strip() for t in
            re.findall(r"<text\b[^>]*>(.*?)</text>", svg, flags=re.DOTALL)]


def test_one_svg_per_plot_each_with_axis_titles_and_data() -> None:
    html = render_report(samples.with_history(), samples.EVENTS, NOW)
    plots = svgs(html)
    # two steps, each: 3 metrics + samples + traffic
    assert len(plots) == 10 == charts.svg_count(html)
    assert html.count('<figure class="chart"') == 10
    for svg in plots:
        words = " ".join(texts(svg))
        assert "since the step's first look" in words or "only look" in words, words
        assert re.search(r"percentage points|samples per variant|share of requests", words)
        assert "<path" in svg  # the data
        assert "<?xml" not in svg
        assert "DOCTYPE" not in svg


def test_metric_plot_units_tolerance_and_readable_ticks() -> None:
    html = charts.history_html(samples.with_history())
    step3 = html.split("<h3>Step 3")[1]
    errors = svgs(step3)[0]
    words = texts(errors)
    assert "errors: candidate minus stable, last verdict Pass" in words
    assert any("percentage points" in w for w in words)
    assert "tolerance (+0.5 pts)" in words  # errors: lower is better, worse is up
    assert "no difference (0)" in words
    ticks = [w for w in words if w.endswith(" pts") and not w.startswith("tolerance")]
    assert ticks
    assert all(re.fullmatch(r"[+-]?\d+(\.\d{1,2})? pts", t) for t in ticks), ticks
    accuracy = texts(svgs(step3)[1])
    assert "tolerance (-2 pts)" in accuracy  # higher is better: worse is down
    agreement = texts(svgs(step3)[2])
    assert any("agreement minus perfect agreement" in w for w in agreement)


def test_a_step_with_one_look_is_a_point_with_an_error_bar() -> None:
    html = charts.history_html(samples.with_history())
    step1 = html.split("<h3>Step 1")[1].split("<h3>")[0]
    first = svgs(step1)[0]
    assert "estimate, confidence interval" in texts(first)  # the errorbar's legend
    assert "2026-03-01T11:56:00Z" in texts(first)  # its time, not a range of seconds
    assert "confidence interval" not in " ".join(t for t in texts(first)
                                                if t != "estimate, confidence interval")


def test_samples_and_traffic_plots() -> None:
    html = charts.history_html(samples.with_history())
    plots = svgs(html.split("<h3>Step 3")[1])
    sample_words, traffic_words = texts(plots[3]), texts(plots[4])
    assert {"errors, stable", "errors, candidate", "agree, candidate"} <= set(sample_words)
    assert "agree, stable" not in sample_words  # agreement has no stable arm
    assert any(re.fullmatch(r"\d{1,3}(,\d{3})+", w) for w in sample_words)  # 12,000
    assert {"candidate live weight", "mirror to shadow-a", "100%", "0%"} <= set(traffic_words)


def test_without_history_the_last_look_is_drawn_and_without_analysis_nothing() -> None:
    assert charts.steps_of(samples.in_analysis()["status"])[0]["step"] == "last look only"
    assert len(svgs(charts.history_html(samples.in_analysis()))) == 4
    assert charts.history_html(samples.rollout()) == (
        "<p>No analysis has looked at this rollout yet.</p>")


def test_units() -> None:
    assert charts.units({"template": "errorRate", "toleranceBasisPoints": 50}).tolerance == 0.5
    assert charts.units({"template": "feedbackAccuracy"}).tolerance == 0.0
    value = charts.units({"query": {"value": "x{variant='{{variant}}'}"},
                          "toleranceBasisPoints": 100})
    assert (value.label, value.tolerance) == ("metric units", None)
    assert charts._decimals([-0.5, -0.25, 0.0, 0.25]) == 2
    assert charts._decimals([0.0, 10.0, 20.0]) == 0


def test_the_demo_report_uses_the_same_plots() -> None:
    from examples.demo.report import render
    html = render([("v2", samples.with_history())],
                  [{"act": "v2", "revision": "9a1b2c", "outcome": "RolledBack"}],
                  [("2026-03-01T11:50:00Z", "AnalysisFailed", "accuracy <b>worse</b>")])
    assert len(svgs(html)) == 10
    assert "Act v2: analysis over time" in html
    assert "accuracy &lt;b&gt;worse&lt;/b&gt;" in html


def test_label_coverage_is_drawn_per_variant_when_looks_report_it() -> None:
    looks: list[dict[str, Any]] = [
        {"at": f"2026-03-01T12:0{i}:00Z", "verdict": "Inconclusive", "metrics": [
        {"name": "accuracy", "verdict": "Inconclusive", "estimate": 0.01, "lower": -0.02,
         "upper": 0.03, "samples": {"stable": 400 * i, "candidate": 100 * i},
         "labelCoverage": {"labels": {"stable": 400 * i, "candidate": 100 * i},
                           "predictions": {"stable": 1000 * i, "candidate": 250 * i}}}]}
        for i in (1, 2, 3)]
    plots = charts.step_plots({"looks": looks}, {})
    titles = [p.title for p in plots]
    assert "Label coverage per variant" in titles
    words = texts(plots[titles.index("Label coverage per variant")].svg)
    assert "accuracy, candidate: 300 of 750" in words
    assert "accuracy, stable: 1,200 of 3,000" in words
    without = [{**look, "metrics": [{k: v for k, v in look["metrics"][0].items()
                                     if k != "labelCoverage"}]} for look in looks]
    assert "Label coverage per variant" not in [p.title for p in charts.step_plots(
        {"looks": without}, {})]
