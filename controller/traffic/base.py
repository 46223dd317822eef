"""The traffic-router seam: how a rollout's desired split reaches a data plane."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kubernetes import client

from controller.api.analysis import PrometheusSource
from controller.operator.settings import OperatorSettings
from controller.rollout.ref import RolloutRef
from controller.rollout.served import Verification
from controller.rollout.split import TrafficSplit

# The label sets of the series an instant query returns (a ProviderError when it cannot).
SeriesReader = Callable[[PrometheusSource, str], Sequence[Mapping[str, str]]]


@dataclass(frozen=True)
class RouterContext:
    """What every router is built with: the API, the operator's settings, and how to read
    series from a rollout's Prometheus (for a router that checks what its replicas serve)."""

    api: client.ApiClient
    settings: OperatorSettings
    read_series: SeriesReader | None = None


class TrafficRouter(Protocol):
    """Routers are idempotent: apply the same split twice and the second call changes nothing.
    `apply` reads what the data plane holds and rewrites it when it differs, so each apply also
    repairs drift (an edit by someone else, a lost object)."""

    def apply(self, rollout: RolloutRef, split: TrafficSplit) -> None:
        """Make the managed route hold `split`: live weights, mirrors (and faults, if able)."""

    def verify(self, rollout: RolloutRef, split: TrafficSplit) -> Verification | None:
        """What the data plane serves, where the router can see more than `apply` read (the
        builtin router: each replica's table); it writes again what it finds drifted. None
        when there is nothing new to report."""

    def remove(self, rollout: RolloutRef) -> None:
        """On deletion: send everything to stable (or drop our entries); leave the rest alone."""


class RouterError(RuntimeError):
    """The route cannot be managed (missing object, unknown rule): a condition, not a crash."""
