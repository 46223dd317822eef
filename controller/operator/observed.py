"""What a reconcile needs to know of one child Deployment, read from its raw body.

Small on purpose: the operator keeps one for every child in the cluster in an index fed by
the watch (an informer cache), so a reconcile does not list Deployments on the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.operator.children import REVISION_LABEL, ROLE_LABEL, SHADOW_LABEL
from controller.rollout.model import ChildState


@dataclass(frozen=True, slots=True)
class ObservedDeployment:
    name: str
    revision: str
    role: str  # model | shadow
    shadow: str | None
    state: ChildState

    @property
    def replicas(self) -> int:
        return self.state.replicas


def observe_deployment(body: Mapping[str, Any]) -> ObservedDeployment:
    """From a Deployment as the API serves it (camelCase JSON, from a watch or a list)."""
    meta = body.get("metadata") or {}
    labels = meta.get("labels") or {}
    status = body.get("status") or {}
    observed_generation = status.get("observedGeneration")
    return ObservedDeployment(
        name=meta.get("name", ""),
        revision=labels.get(REVISION_LABEL, ""),
        role=labels.get(ROLE_LABEL, ""),
        shadow=labels.get(SHADOW_LABEL),
        state=ChildState(
            replicas=int((body.get("spec") or {}).get("replicas") or 0),
            ready_replicas=int(status.get("readyReplicas") or 0),
            up_to_date=observed_generation is not None
            and int(observed_generation) >= int(meta.get("generation") or 0),
        ),
    )
