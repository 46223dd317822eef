"""In which order the shell makes a plan true: make before break.

Traffic may only reach what is already there, and what it leaves may only go once it has left:

1. first, the Services the new traffic reaches (their selectors name the revisions it hits);
2. then the traffic, side by side with the writes it does not depend on: a new revision (it
   gets no traffic until it is Ready, a later reconcile) and more replicas;
3. last, what the new traffic does not reach: the other Services (a zero-weight candidate
   whose selector may still carry the old traffic, a blue/green preview), fewer replicas,
   deleted revisions.

The status is written after all of them (the reconciler), so a status always describes
traffic that is in place.  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from controller.rollout.model import Plan

ServiceRole = Literal["stable", "candidate"]


@dataclass(frozen=True)
class ChildWrite:
    revision: str
    replicas: int  # the replicas wanted; 0 for a deletion
    action: Literal["apply", "scale", "delete"]  # apply: the revision of spec.template


@dataclass(frozen=True)
class WriteOrder:
    services_before_traffic: tuple[ServiceRole, ...]
    children_with_traffic: tuple[ChildWrite, ...]
    services_after_traffic: tuple[ServiceRole, ...]
    children_after_traffic: tuple[ChildWrite, ...]
    unknown: tuple[str, ...] = ()  # revisions with no Deployment and no template: skipped


def order_writes(plan: Plan, existing: Mapping[str, int]) -> WriteOrder:
    """`existing`: the replicas of every revision's Deployment as observed (revision -> spec
    replicas).  A revision with no Deployment and no template to create it from is skipped."""
    with_traffic: list[ChildWrite] = []
    after_traffic: list[ChildWrite] = []
    unknown: list[str] = []
    for revision, replicas in plan.deployments.items():
        shrinks = revision in existing and replicas < existing[revision]
        if revision == plan.revision:
            write = ChildWrite(revision, replicas, "apply")
        elif revision not in existing:
            unknown.append(revision)
            continue
        elif existing[revision] != replicas:
            write = ChildWrite(revision, replicas, "scale")
        else:
            continue
        (after_traffic if shrinks else with_traffic).append(write)
    for revision in sorted(existing.keys() - plan.deployments.keys()):
        after_traffic.append(ChildWrite(revision, 0, "delete"))
    traffic = plan.traffic
    reached = {"stable": traffic.stable_weight > 0,
               "candidate": (traffic.candidate_weight > 0
                             or traffic.mirror_percent("candidate") > 0)}
    roles: tuple[ServiceRole, ...] = ("stable", "candidate")
    return WriteOrder(
        services_before_traffic=tuple(r for r in roles if reached[r]),
        children_with_traffic=tuple(with_traffic),
        services_after_traffic=tuple(r for r in roles if not reached[r]),
        children_after_traffic=tuple(after_traffic),
        unknown=tuple(unknown),
    )
