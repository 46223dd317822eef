"""The traffic-router seam: how a rollout's desired split reaches a data plane."""

from __future__ import annotations

from typing import Protocol

from controller.rollout.ref import RolloutRef
from controller.rollout.split import TrafficSplit


class TrafficRouter(Protocol):
    """Routers are idempotent: apply the same split twice and the second call changes nothing.
    `apply` reads what the data plane holds and rewrites it when it differs, so each apply also
    repairs drift (an edit by someone else, a lost object)."""

    def apply(self, rollout: RolloutRef, split: TrafficSplit) -> None:
        """Make the managed route hold `split`: live weights, mirrors (and faults, if able)."""

    def remove(self, rollout: RolloutRef) -> None:
        """On deletion: send everything to stable (or drop our entries); leave the rest alone."""


class RouterError(RuntimeError):
    """The route cannot be managed (missing object, unknown rule): a condition, not a crash."""
