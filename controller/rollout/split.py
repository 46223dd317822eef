"""What the rollout core asks of the data plane: live weights, mirrors and faults, by revision.

Pure values: the state machine returns them and a traffic router turns them into an HTTPRoute,
a VirtualService or the model router's table.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mirror:
    """A copy of `percent`% of requests sent to `variant` (the candidate or a shadow)."""

    variant: str
    revision: str
    percent: int


@dataclass(frozen=True)
class Faults:
    """Chaos on a fraction of the candidate's answers, to prove the analysis catches it."""

    fraction_basis_points: int
    error_status: int | None = None
    added_latency_milliseconds: int = 0
    corrupt_prediction: bool = False
    # At most one selector confines the faults to a subpopulation (a bias fault); the fraction
    # applies within it.
    segment: str | None = None
    header: tuple[str, str] | None = None  # (name, value)
    hashed_fraction_basis_points: int | None = None


@dataclass(frozen=True)
class TrafficSplit:
    stable_revision: str
    candidate_revision: str | None = None
    candidate_weight: int = 0
    mirrors: tuple[Mirror, ...] = field(default=())
    candidate_faults: Faults | None = None
    # The serving window labels are attributed to (candidate revision and step): a label, not
    # routing, so two splits that route alike are equal whatever their windows.
    window: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.candidate_weight <= 100:
            raise ValueError(f"candidate_weight must be within 0-100, got {self.candidate_weight}")
        if self.candidate_revision is None and (self.candidate_weight or self.candidate_faults):
            raise ValueError("candidate_weight and candidate_faults need a candidate_revision")
        for mirror in self.mirrors:
            if not 0 <= mirror.percent <= 100:
                raise ValueError(f"mirror percent must be within 0-100, got {mirror.percent}")

    @property
    def stable_weight(self) -> int:
        return 100 - self.candidate_weight

    def mirror_percent(self, variant: str) -> int:
        return next((m.percent for m in self.mirrors if m.variant == variant), 0)
