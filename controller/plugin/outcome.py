"""Manual commands: the annotation value to send, and what the operator did with it (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from controller.plugin import facts
from controller.plugin.facts import Json

# the operator says so in an Event when it receives a command it cannot act on
REFUSALS = ("CommandIgnored", "InvalidCommand")


def command_value(action: str, now: datetime, token: str) -> str:
    """`<action>@<nonce>`: the nonce makes a repeated command a new one (see commands.py)."""
    return f"{action}@{now.strftime('%Y%m%dT%H%M%S')}-{token}"


def acted(status: Json, value: str) -> bool:
    return status.get("lastCommand") == value


def refusals(events: Sequence[Json] | None, action: str, since: datetime) -> list[str]:
    """Messages of the operator's refusals of this action posted since the command was sent
    (Events carry whole seconds, hence the one-second margin)."""
    margin = since - timedelta(seconds=1)
    found = []
    for event in facts.sorted_events(list(events or [])):
        when = facts.lenient_time(facts.event_time(event))
        message = str(event.get("message", ""))
        if (event.get("reason") in REFUSALS and when is not None and when >= margin
                and (message.startswith(f"{action}:") or event.get("reason") == "InvalidCommand")):
            found.append(message)
    return found


def changes(before: Json, after: Json) -> list[str]:
    """What changed in status, in the words a person would use."""
    found: list[str] = []

    def compare(label: str, old: object, new: object) -> None:
        if old != new:
            found.append(f"{label} {old if old is not None else '-'} -> "
                         f"{new if new is not None else '-'}")

    compare("phase", before.get("phase"), after.get("phase"))
    compare("stable revision", before.get("stableRevision"), after.get("stableRevision"))
    compare("candidate", before.get("candidateRevision"), after.get("candidateRevision"))
    if after.get("candidateRevision") and before.get("candidateRevision") == \
            after.get("candidateRevision"):
        compare("step", _step(before), _step(after))
    compare("candidate weight", f"{facts.weights(before)[1]}%", f"{facts.weights(after)[1]}%")
    if bool(before.get("pausedByUser")) != bool(after.get("pausedByUser")):
        found.append("paused by user" if after.get("pausedByUser") else "no longer paused")
    old_history, new_history = before.get("history") or [], after.get("history") or []
    if new_history and new_history != old_history:
        last = new_history[-1]
        found.append(f"revision {last.get('revision')} {last.get('outcome')} "
                     f"({last.get('reason')})")
    return found


def _step(status: Json) -> int | None:
    index = status.get("currentStepIndex")
    return None if index is None else index + 1


def refused(before: Json, after: Json | None, refusals_seen: Sequence[str]) -> bool:
    """The operator took the command but changed nothing and said why."""
    return after is not None and bool(refusals_seen) and not changes(before, after)


def summary(action: str, value: str, before: Json, after: Json | None,
            refusals_seen: Sequence[str]) -> str:
    """One line for the terminal; `after` None: the operator has not acted yet."""
    if after is None:
        return (f"{action}: sent {value}; the operator has not acted on it yet (is it "
                f"running?); it will when it next reconciles")
    found = changes(before, after)
    if not found and refusals_seen:
        return f"{action}: the operator did not act: {refusals_seen[-1]}"
    if not found:
        return f"{action}: done ({value}); status unchanged, phase {after.get('phase') or '-'}"
    warned = f" (the operator warned: {refusals_seen[-1]})" if refusals_seen else ""
    return f"{action}: done ({value}): " + "; ".join(found) + warned
