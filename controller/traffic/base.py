"""The traffic-router seam: how a rollout's desired split reaches a data plane."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from controller.rollout.traffic import TrafficSplit


@dataclass(frozen=True)
class RolloutRef:
    """The ModelRollout a router acts for, and the Services the operator keeps for it."""

    name: str
    namespace: str
    uid: str
    port: int

    @property
    def stable_service(self) -> str:
        return f"{self.name}-stable"

    @property
    def candidate_service(self) -> str:
        return f"{self.name}-candidate"

    def shadow_service(self, shadow: str) -> str:
        return f"{self.name}-sh-{shadow}"


class TrafficRouter(Protocol):
    """Routers are idempotent: apply the same split twice and the second call changes nothing."""

    def apply(self, rollout: RolloutRef, split: TrafficSplit) -> None:
        """Make the managed route hold `split`: live weights, mirrors (and faults, if able)."""

    def verify(self, rollout: RolloutRef, split: TrafficSplit) -> bool:
        """True when what the data plane holds now equals `split`."""

    def remove(self, rollout: RolloutRef) -> None:
        """On deletion: send everything to stable (or drop our entries); leave the rest alone."""


class RouterError(RuntimeError):
    """The route cannot be managed (missing object, unknown rule): a condition, not a crash."""
