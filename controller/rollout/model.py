"""Inputs and outputs of the rollout state machine: plain frozen values, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from controller.api.spec import ModelRolloutSpec
from controller.api.status import AnalysisStatus, ModelRolloutStatus, ShadowVerdict, Verdict
from controller.rollout.commands import Command, InvalidCommand
from controller.rollout.split import TrafficSplit


@dataclass(frozen=True)
class ChildState:
    """A model Deployment as observed: the replicas it asks for and how many are Ready."""

    replicas: int
    ready_replicas: int
    up_to_date: bool = True  # the Deployment controller has seen its latest spec

    def ready_for(self, wanted: int) -> bool:
        return self.up_to_date and self.replicas >= wanted and self.ready_replicas >= wanted


@dataclass(frozen=True)
class AnalysisOutcome:
    """The analyzer's judgement of the candidate at this look (see controller/analysis)."""

    verdict: Verdict
    reason: str
    candidate_samples: int | None = None
    status: AnalysisStatus | None = None
    action: Literal["Hold", "Rollback"] = "Hold"  # what NoData/Error/SRM ask for by policy
    # The fewest stable samples among metrics with a stable arm (None: no such metric).
    stable_samples: int | None = None
    # Every metric reached its plan without harm: a Pass, or an Inconclusive only because a
    # durationSeconds step watches until its end.
    plan_reached: bool = False
    # Set when the policy's limit has passed and its action is Hold (or nothing can be judged
    # until a person acts): the reason the machine pauses the rollout with, for a person
    # (AnalysisNoData, AnalysisProviderError, AnalysisMisconfigured, SampleRatioMismatch).
    hold: str | None = None
    # Each Ready long-lived shadow's verdict at this look (spec.shadows, judged as shadows).
    shadows: tuple[ShadowVerdict, ...] = ()


@dataclass(frozen=True)
class Observation:
    spec: ModelRolloutSpec
    status: ModelRolloutStatus
    generation: int
    now: datetime
    children: Mapping[str, ChildState] = field(default_factory=dict)
    shadows_ready: Mapping[str, bool] = field(default_factory=dict)
    analysis: AnalysisOutcome | None = None
    command: Command | InvalidCommand | None = None


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    """What the shell must make true: children, Services and traffic make before break
    (controller.rollout.ordering), then the status."""

    status: ModelRolloutStatus
    revision: str  # the revision of spec.template (the only one the shell may create)
    deployments: Mapping[str, int]  # revision -> replicas; every other revision is deleted
    stable_service: str  # revision the `<name>-stable` Service selects
    candidate_service: str | None  # revision the `<name>-candidate` Service selects
    traffic: TrafficSplit
    events: tuple[Event, ...] = ()
    requeue_after_seconds: float | None = None
