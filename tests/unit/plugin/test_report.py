"""The HTML report: self-contained, escaped, with analysis numbers and the Events timeline."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from controller.plugin.report import Section, render_report
from tests.unit.plugin import samples
from tests.unit.plugin.samples import NOW

pytestmark = pytest.mark.unit


class Tags(HTMLParser):
    """Collects tags and attributes so tests can check structure, not only substrings."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def test_report_of_a_rolled_back_rollout() -> None:
    html = render_report(samples.rolled_back(), samples.EVENTS, NOW)
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>ModelRollout ml/fraud</title>" in html
    for words in ("-0.2481", "[-0.2902, -0.2061]", "&lt;0.0001", "5,012", "AnalysisFailed",
                  "accuracy: candidate worse than stable by 24.8 points", "RolledBack",
                  "Promoted"):
        assert words in html, words
    # the Events timeline in time order, their text escaped
    timeline = html.split('<ul class="timeline">')[1]
    assert timeline.index("RolloutStarted") < timeline.index("StepCompleted") < \
        timeline.index("AnalysisFailed")
    assert "accuracy &lt;b&gt;worse&lt;/b&gt;" in timeline
    assert "(x2)" in timeline


def test_report_is_self_contained() -> None:
    tags = parse(render_report(samples.in_analysis(), samples.EVENTS, NOW))
    names = {tag for tag, _ in tags.tags}
    assert "script" not in names
    assert not any(attrs.get("src") or attrs.get("href") for _, attrs in tags.tags)
    # no history (an older operator): the last look's two metrics, samples and traffic
    assert sum(1 for tag, _ in tags.tags if tag == "svg") == 4


def test_report_of_an_empty_status() -> None:
    html = render_report(samples.rollout(), [], NOW)
    assert "The operator has not reported a status yet." in html
    assert "No analysis has run" in html
    assert "No Events" in html
    assert "no status" in html


def test_report_without_event_permission_and_with_extra_sections() -> None:
    extra = [Section("Weights over time", "<svg id='weights'></svg>")]
    html = render_report(samples.blue_green(1), None, NOW, extra)
    assert "Events could not be read" in html
    assert "<h2>Weights over time</h2><svg id='weights'></svg>" in html
    assert "2/2: switch: waiting for promote" in html


def test_each_long_lived_shadow_has_its_verdict_in_the_report() -> None:
    body = samples.in_analysis()
    body["status"]["shadows"] = [{
        "name": "shadow-a", "verdict": "Fail", "gates": False,
        "updatedAt": "2026-03-01T11:59:48Z", "message": "shadow shadow-a: agreement <low>",
        "metrics": [samples.metric("agreement", "Fail", 0, 3900, -0.21, -0.24, -0.18, 1e-9,
                                   reason="agreement: candidate agrees 79% <floor 95%>")]}]
    html = render_report(body, [], NOW)
    shadows = html.split("<h2>Shadows</h2>", 1)[1].split("<h2>", 1)[0]
    for words in ("shadow-a", "reported only", "agreement", "3,900", "-0.21",
                  "[-0.24, -0.18]", "agrees 79% &lt;floor 95%&gt;"):
        assert words in shadows, words


def test_no_shadows_no_section() -> None:
    assert "<h2>Shadows</h2>" not in render_report(samples.in_analysis(), [], NOW)
