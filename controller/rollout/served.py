"""Does the data plane serve what the operator wrote? A pure judgement of what each router
replica reports (its table's version and content digest) against the table last written.

A replica that reports an older table right after a write is only catching up (its watch, then
Prometheus's next scrape); past `grace_seconds` it has drifted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controller.api.status import ModelRolloutStatus
from controller.rollout.conditions import set_condition


@dataclass(frozen=True)
class ServedTable:
    replica: str
    version: int
    digest: str


@dataclass(frozen=True)
class Verification:
    verified: bool | None  # None: nothing observed to judge
    reason: str
    message: str
    recheck_seconds: float | None = None  # look again this soon


def judge_served(digest: str, served: list[ServedTable], seconds_since_write: float,
                 grace_seconds: float) -> Verification:
    """`digest`: the content digest of the table written; `served`: one per replica seen."""
    if not served:
        return Verification(None, "RoutersNotObserved",
                            "no router replica reports its table (modelrouter_table_info) yet")
    stale = sorted((s for s in served if s.digest != digest), key=lambda s: s.replica)
    if not stale:
        versions = sorted({s.version for s in served})
        return Verification(True, "RoutersServeTable",
                            f"{len(served)}/{len(served)} router replicas serve the table "
                            f"written (version {', '.join(map(str, versions))})")
    if seconds_since_write < grace_seconds:
        return Verification(None, "RoutersCatchingUp",
                            f"{len(stale)}/{len(served)} router replicas still report an "
                            f"earlier table {seconds_since_write:.0f}s after the write")
    shown = ", ".join(f"{s.replica} (version {s.version})" for s in stale[:5])
    more = f" and {len(stale) - 5} more" if len(stale) > 5 else ""
    return Verification(False, "RouterTableDrift",
                        f"{len(stale)}/{len(served)} router replicas serve another table than "
                        f"the one written: {shown}{more}; the table is written again")


def with_verification(status: ModelRolloutStatus, verification: Verification, generation: int,
                      now: datetime) -> ModelRolloutStatus:
    conditions = set_condition(status.conditions, "TrafficVerified", verification.verified,
                               verification.reason, verification.message, generation, now)
    return status.model_copy(update={"conditions": conditions})
