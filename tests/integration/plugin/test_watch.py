"""`status --watch` as a real process: a redraw per change, a clean exit on Ctrl-C and when the
rollout is deleted."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.rollouts import Rollouts
from tests.manifest_edits import valid_manifest

pytestmark = pytest.mark.integration

FOOTER = "Ctrl-C to exit"


class Watcher:
    """The plugin's stdout line by line through a reader thread, so the test waits on a queue
    with a deadline instead of blocking on the pipe."""

    def __init__(self, kubeconfig: Path, namespace: str, name: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "controller.plugin", "--kubeconfig", str(kubeconfig), "-n",
             namespace, "status", name, "--watch"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, words: str, timeout: float = 30) -> list[str]:
        """Lines up to and including the first one containing `words`."""
        deadline = time.monotonic() + timeout
        taken: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                raise AssertionError(f"no {words!r} within {timeout}s; got {self.seen}") from None
            if line is None:
                raise AssertionError(f"the plugin exited before {words!r}; got {self.seen}")
            taken.append(line)
            self.seen.append(line)
            if words in line:
                return taken

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def watchers() -> Iterator[list[Watcher]]:
    started: list[Watcher] = []
    yield started
    for watcher in started:
        watcher.stop()


def test_watch_redraws_on_change_and_exits_on_ctrl_c(
        kubeconfig: Path, namespace: str, api: client.ApiClient, watchers: list[Watcher]) -> None:
    rollouts = Rollouts(api, namespace)
    rollouts.create(valid_manifest("live"))
    watcher = Watcher(kubeconfig, namespace, "live")
    watchers.append(watcher)
    first = watcher.wait_for(FOOTER)
    assert any(f"ModelRollout {namespace}/live" in line for line in first)

    rollouts.patch("live", {"metadata": {"labels": {"team": "fraud"}}})
    watcher.wait_for(FOOTER)  # a second frame for the change

    watcher.process.send_signal(signal.SIGINT)
    assert watcher.process.wait(timeout=20) == 0
    assert not any("Traceback" in line for line in watcher.seen)


def test_watch_ends_when_the_rollout_is_deleted(
        kubeconfig: Path, namespace: str, api: client.ApiClient, watchers: list[Watcher]) -> None:
    rollouts = Rollouts(api, namespace)
    rollouts.create(valid_manifest("brief"))
    watcher = Watcher(kubeconfig, namespace, "brief")
    watchers.append(watcher)
    watcher.wait_for(FOOTER)
    rollouts.delete("brief")
    watcher.wait_for(f"modelrollout brief was deleted from namespace {namespace}")
    assert watcher.process.wait(timeout=20) == 0
