"""Manual control without GitOps drift: commands arrive in an annotation, never in spec.

`kubectl annotate mro NAME rollouts.mlops.dev/command=promote@$(date +%s%N) --overwrite`

The value is `<action>` or `<action>@<nonce>`; the nonce makes a repeated command a new one.
The operator records the last value it processed in `status.lastCommand`, so a command is
pending exactly while the two differ — it survives an operator restart and runs once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

COMMAND_ANNOTATION = "rollouts.mlops.dev/command"

Action = Literal["pause", "resume", "promote", "promote-full", "abort", "retry"]
ACTIONS: tuple[str, ...] = get_args(Action)


@dataclass(frozen=True)
class Command:
    value: str  # the raw annotation value: its identity
    action: Action


@dataclass(frozen=True)
class InvalidCommand:
    value: str
    message: str


def parse_command(value: str) -> Command | InvalidCommand:
    if len(value) > 128:
        return InvalidCommand(value, f"annotation {COMMAND_ANNOTATION}: over 128 characters")
    action = value.split("@", 1)[0].strip()
    if action not in ACTIONS:
        return InvalidCommand(value, (
            f"annotation {COMMAND_ANNOTATION}: unknown action {action!r}; expected one of "
            f"{', '.join(ACTIONS)}, optionally followed by @<nonce>"
        ))
    return Command(value=value, action=cast(Action, action))


def pending_command(
    annotations: dict[str, str], last_processed: str | None
) -> Command | InvalidCommand | None:
    """The command to act on now (or an invalid one to report once), or None."""
    value = annotations.get(COMMAND_ANNOTATION)
    if not value or value == last_processed:
        return None
    return parse_command(value)
