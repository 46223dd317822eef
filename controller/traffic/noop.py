"""The no-op router: remembers what it was told. The default in unit tests and a test double."""

from __future__ import annotations

from controller.rollout.traffic import TrafficSplit
from controller.traffic.base import RolloutRef


class NoopRouter:
    def __init__(self) -> None:
        self.current: dict[tuple[str, str], TrafficSplit] = {}
        self.history: list[tuple[str, TrafficSplit | None]] = []

    def apply(self, rollout: RolloutRef, split: TrafficSplit) -> None:
        key = (rollout.namespace, rollout.name)
        if self.current.get(key) != split:
            self.current[key] = split
            self.history.append((rollout.name, split))

    def verify(self, rollout: RolloutRef, split: TrafficSplit) -> bool:
        return self.current.get((rollout.namespace, rollout.name)) == split

    def remove(self, rollout: RolloutRef) -> None:
        if self.current.pop((rollout.namespace, rollout.name), None) is not None:
            self.history.append((rollout.name, None))
