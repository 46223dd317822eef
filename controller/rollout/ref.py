"""The ModelRollout the shell acts for, and the names of the Services it keeps for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RolloutRef:
    """Identity and port of one ModelRollout; every child name derives from `name` here."""

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
