"""The imperative shell of each subcommand: read from the cluster, render, write."""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TextIO

from controller.plugin import outcome
from controller.plugin.cli import COMMAND_HELP, action_of
from controller.plugin.errors import PluginError
from controller.plugin.facts import Json, status_of
from controller.plugin.report import render_report
from controller.plugin.text import Style
from controller.plugin.view import render_list, render_status

CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen
POLL_SECONDS = 0.25
REFUSAL_GRACE_SECONDS = 2.0  # the operator posts its Events just after it writes status


class RolloutApi(Protocol):
    """What the commands need from the cluster: kube.Cluster, or a fake in unit tests."""

    def get(self, namespace: str, name: str) -> Json: ...
    def list_rollouts(self, namespace: str | None) -> list[Json]: ...
    def send_command(self, namespace: str, name: str, value: str) -> Json: ...
    def events(self, rollout: Json) -> list[Json] | None: ...
    def watch(self, namespace: str, name: str) -> Iterator[Json | None]: ...


@dataclass
class Terminal:
    out: TextIO
    interactive: bool  # a TTY: colour and in-place redraws
    color: bool


@dataclass
class Clock:
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def run(args: argparse.Namespace, cluster: RolloutApi, namespace: str, terminal: Terminal,
        clock: Clock | None = None) -> int:
    clock = clock or Clock()
    if args.command == "list":
        return run_list(args, cluster, namespace, terminal, clock)
    if args.command == "status":
        if args.watch:
            return run_watch(args.name, cluster, namespace, terminal, clock)
        return run_status(args.name, cluster, namespace, terminal, clock)
    if args.command == "report":
        return run_report(args, cluster, namespace, terminal, clock)
    assert args.command in COMMAND_HELP
    return run_command(args, cluster, namespace, terminal, clock)


def run_list(args: argparse.Namespace, cluster: RolloutApi, namespace: str, terminal: Terminal,
             clock: Clock) -> int:
    rollouts = cluster.list_rollouts(None if args.all_namespaces else namespace)
    style = Style(terminal.color)
    print(render_list(rollouts, clock.now(), args.all_namespaces, namespace, style),
          file=terminal.out)
    return 0


def run_status(name: str, cluster: RolloutApi, namespace: str, terminal: Terminal,
               clock: Clock) -> int:
    rollout = cluster.get(namespace, name)
    text = render_status(rollout, cluster.events(rollout), clock.now(), Style(terminal.color))
    terminal.out.write(text)
    return 0


def run_watch(name: str, cluster: RolloutApi, namespace: str, terminal: Terminal,
              clock: Clock) -> int:
    """Redraw on each change (and each watch renewal, which refreshes the ages); Ctrl-C ends
    it in main()."""
    for rollout in cluster.watch(namespace, name):
        if rollout is None:
            print(f"modelrollout {name} was deleted from namespace {namespace}",
                  file=terminal.out)
            return 0
        now = clock.now()
        text = render_status(rollout, cluster.events(rollout), now, Style(terminal.color))
        footer = f"watching {namespace}/{name} - updated {now:%H:%M:%S} UTC - Ctrl-C to exit\n"
        if terminal.interactive:
            terminal.out.write(CLEAR + text + "\n" + footer)
        else:
            terminal.out.write(text + footer + "\n")
        terminal.out.flush()
    return 0


def run_command(args: argparse.Namespace, cluster: RolloutApi, namespace: str, terminal: Terminal,
                clock: Clock) -> int:
    action = action_of(args)
    before = status_of(cluster.get(namespace, args.name))
    sent_at = clock.now()
    value = outcome.command_value(action, sent_at, secrets.token_hex(3))
    cluster.send_command(namespace, args.name, value)
    if args.no_wait:
        print(f"{action}: sent {value}", file=terminal.out)
        return 0
    after = _wait_until_acted(cluster, namespace, args.name, value, args.timeout, clock)
    seen: list[str] = []
    if after is not None:
        seen = _refusals(cluster, namespace, args.name, action, sent_at, clock,
                         wait=not outcome.changes(before, after))
    print(outcome.summary(action, value, before, after, seen), file=terminal.out)
    return 1 if outcome.refused(before, after, seen) else 0


def _wait_until_acted(cluster: RolloutApi, namespace: str, name: str, value: str,
                      timeout: float, clock: Clock) -> Json | None:
    deadline = clock.monotonic() + timeout
    while True:
        status = status_of(cluster.get(namespace, name))
        if outcome.acted(status, value):
            return status
        if clock.monotonic() >= deadline:
            return None
        clock.sleep(POLL_SECONDS)


def _refusals(cluster: RolloutApi, namespace: str, name: str, action: str, sent_at: datetime,
              clock: Clock, wait: bool) -> list[str]:
    """A refusal is only in the Events; when status did not change, give them a moment."""
    deadline = clock.monotonic() + (REFUSAL_GRACE_SECONDS if wait else 0.0)
    rollout = cluster.get(namespace, name)
    while True:
        found = outcome.refusals(cluster.events(rollout), action, sent_at)
        if found or clock.monotonic() >= deadline:
            return found
        clock.sleep(POLL_SECONDS)


def run_report(args: argparse.Namespace, cluster: RolloutApi, namespace: str, terminal: Terminal,
               clock: Clock) -> int:
    rollout = cluster.get(namespace, args.name)
    html = render_report(rollout, cluster.events(rollout), clock.now())
    if args.output == "-":
        terminal.out.write(html)
        return 0
    path = Path(args.output or f"{args.name}-report.html")
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as error:
        raise PluginError(f"cannot write {path}: {error.strerror or error}") from error
    print(f"wrote {path} ({len(html):,} bytes)", file=terminal.out)
    return 0
