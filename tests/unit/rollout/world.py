"""A simulated world for the pure state machine: Deployments turn Ready on a schedule, the
data plane takes whatever split it is given, and the clock jumps to the next wake-up."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.api.spec import ModelRolloutSpec
from controller.api.status import ModelRolloutStatus
from controller.rollout.commands import parse_command
from controller.rollout.machine import analysis_due, decide
from controller.rollout.model import AnalysisOutcome, ChildState, Observation, Plan
from controller.rollout.revision import template_revision
from controller.rollout.split import TrafficSplit

START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
Analyzer = Callable[[Observation], AnalysisOutcome]


def passing(observation: Observation) -> AnalysisOutcome:
    return AnalysisOutcome("Pass", "no regression", candidate_samples=10**6)


def base_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "server", "image": "model:1"}]}},
        "port": 8080,
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"durationSeconds": 60}},
                                          {"setWeight": 50}, {"setWeight": 100}]}},
    }
    spec.update(changes)
    return spec


def revision_for(spec: dict[str, Any]) -> str:
    return template_revision(spec["template"])


def with_image(spec: dict[str, Any], image: str) -> dict[str, Any]:
    changed = copy.deepcopy(spec)
    changed["template"]["spec"]["containers"][0]["image"] = image
    return changed


@dataclass
class World:
    spec: dict[str, Any]
    analyzer: Analyzer = passing
    never_ready: set[str] = field(default_factory=set)
    now: datetime = START
    generation: int = 1
    status: ModelRolloutStatus = field(default_factory=ModelRolloutStatus)
    children: dict[str, ChildState] = field(default_factory=dict)
    shadows_ready: dict[str, bool] = field(default_factory=dict)
    applied: list[TrafficSplit] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    annotation: str | None = None
    children_changed: bool = False

    def observe(self) -> Observation:
        spec = ModelRolloutSpec.model_validate(self.spec)
        command = None
        if self.annotation and self.annotation != self.status.last_command:
            command = parse_command(self.annotation)
        observation = Observation(spec=spec, status=self.status, generation=self.generation,
                                  now=self.now, children=dict(self.children),
                                  shadows_ready=dict(self.shadows_ready), command=command)
        if analysis_due(observation):
            observation = Observation(**{**observation.__dict__,
                                         "analysis": self.analyzer(observation)})
        return observation

    def step(self) -> Plan:
        plan = decide(self.observe())
        self.plans.append(plan)
        children = {
            revision: ChildState(replicas, 0 if revision in self.never_ready else replicas)
            for revision, replicas in plan.deployments.items()
        }
        # The operator watches its Deployments: a change wakes it at once, as in a cluster.
        self.children_changed = children != self.children
        self.children = children
        if not self.applied or self.applied[-1] != plan.traffic:
            self.applied.append(plan.traffic)
        self.status = plan.status
        return plan

    def tick(self, max_seconds: float = 3600) -> Plan:
        plan = self.step()
        wait = 0.0 if self.children_changed else min(plan.requeue_after_seconds or 0.0,
                                                     max_seconds)
        self.now += timedelta(seconds=wait)
        return plan

    def run_until(self, done: Callable[[World], bool], limit: int = 200) -> None:
        for _ in range(limit):  # always at least one step: `done` may hold before an edit lands
            self.tick()
            if done(self):
                return
        raise AssertionError(f"not done after {limit} steps: {self.status}")

    def edit(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.generation += 1

    def command(self, value: str) -> None:
        self.annotation = value

    def condition(self, type_: str) -> tuple[str, str]:
        found = next(c for c in self.status.conditions if c.type == type_)
        return found.status, found.reason

    def weights(self) -> list[int]:
        """The candidate's live weight each time it changed."""
        weights: list[int] = []
        for split in self.applied:
            if not weights or weights[-1] != split.candidate_weight:
                weights.append(split.candidate_weight)
        return weights


def settled(world: World) -> bool:
    return world.status.candidate_revision is None


def rolling(world: World) -> bool:
    return world.status.candidate_revision is not None
