"""The commands' shell with a fake cluster and a fake clock: waiting, refusals, watch frames."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from controller.plugin.app import CLEAR, Clock, Terminal, run
from controller.plugin.cli import parse
from controller.plugin.facts import Json
from tests.unit.plugin import samples
from tests.unit.plugin.samples import NOW

pytestmark = pytest.mark.unit


class FakeCluster:
    """Holds one rollout; `react` plays the operator when a command is sent."""

    def __init__(self, rollout: Json, react: bool = True, refusal: str | None = None) -> None:
        self.rollout, self.react, self.refusal = rollout, react, refusal
        self.sent: list[str] = []
        self.events_list: list[Json] = []
        self.frames: list[Json | None] = []

    def get(self, namespace: str, name: str) -> Json:
        return copy.deepcopy(self.rollout)

    def list_rollouts(self, namespace: str | None) -> list[Json]:
        return [self.get("ml", "fraud")]

    def send_command(self, namespace: str, name: str, value: str) -> Json:
        self.sent.append(value)
        if self.react:
            status = self.rollout["status"]
            status["lastCommand"] = value
            if self.refusal:
                self.events_list.append(samples.event("CommandIgnored", self.refusal,
                                                      NOW.isoformat(), "Warning"))
            else:
                status["pausedByUser"] = True
        return self.rollout

    def events(self, rollout: Json) -> list[Json] | None:
        return self.events_list

    def watch(self, namespace: str, name: str) -> Iterator[Json | None]:
        yield from self.frames


class FakeClock(Clock):
    """Time moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        super().__init__(now=lambda: NOW, monotonic=lambda: self.elapsed, sleep=self.advance)

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds


def execute(argv: list[str], cluster: FakeCluster, interactive: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = run(parse(argv), cluster, "ml", Terminal(out, interactive, False), FakeClock())
    return code, out.getvalue()


def test_command_acted_on() -> None:
    cluster = FakeCluster(samples.in_analysis())
    code, out = execute(["pause", "fraud"], cluster)
    assert code == 0
    assert out == f"pause: done ({cluster.sent[0]}): paused by user\n"
    assert cluster.sent[0].startswith("pause@20260301T120000-")


def test_command_not_acted_on_within_the_timeout() -> None:
    cluster = FakeCluster(samples.in_analysis(), react=False)
    code, out = execute(["promote", "fraud", "--full", "--timeout", "3"], cluster)
    assert code == 0
    assert out.startswith("promote-full: sent promote-full@")
    assert "has not acted on it yet" in out


def test_command_refused() -> None:
    cluster = FakeCluster(samples.in_analysis(), refusal="promote: the candidate is not Ready")
    code, out = execute(["promote", "fraud"], cluster)
    assert (code, out) == (1, "promote: the operator did not act: promote: the candidate is "
                              "not Ready\n")


def test_no_wait_only_sends() -> None:
    cluster = FakeCluster(samples.in_analysis(), react=False)
    code, out = execute(["abort", "fraud", "--no-wait"], cluster)
    assert (code, out) == (0, f"abort: sent {cluster.sent[0]}\n")


def test_watch_draws_each_frame_and_stops_on_deletion() -> None:
    cluster = FakeCluster(samples.in_analysis())
    later = samples.in_analysis()
    later["status"]["currentStepIndex"] = 3
    cluster.frames = [samples.in_analysis(), later, None]
    code, out = execute(["status", "fraud", "--watch"], cluster, interactive=True)
    assert code == 0
    frames = out.split(CLEAR)
    assert len(frames) == 3  # before the first clear, and two frames
    assert "Step:       3/5" in frames[1]
    assert "Step:       4/5  pause until promoted" in frames[2]
    assert frames[2].rstrip().endswith("modelrollout fraud was deleted from namespace ml")


def test_list_and_report(tmp_path: Path) -> None:
    cluster = FakeCluster(samples.rolled_back())
    code, out = execute(["list"], cluster)
    assert code == 0
    assert out.splitlines()[1].split()[:3] == ["fraud", "Degraded", "5d8f7c"]
    target = tmp_path / "r.html"
    code, out = execute(["report", "fraud", "-o", str(target)], cluster)
    assert out.startswith(f"wrote {target}")
    assert "AnalysisFailed" in target.read_text()


def test_refusals_before_the_command_are_ignored() -> None:
    cluster = FakeCluster(samples.in_analysis(), react=True)
    old = NOW - timedelta(minutes=10)
    cluster.events_list.append(samples.event("CommandIgnored", "pause: old", old.isoformat()))
    code, out = execute(["pause", "fraud"], cluster)
    assert code == 0
    assert "paused by user" in out
