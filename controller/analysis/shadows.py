"""Long-lived shadows judged like the candidate, as shadows on the stable's requests (pure).

At each analysis look every Ready shadow of spec.shadows gets its own verdict over the step's
window, from the same metrics (their shadow forms: controller.analysis.templates). It gates
the rollout only when asked (spec.shadows[].gate): otherwise it is reported, in status.shadows
and in the report.
"""

from __future__ import annotations

from controller.api.spec import ModelRolloutSpec
from controller.api.status import AnalysisStatus, ModelRolloutStatus, ShadowVerdict
from controller.api.strategy import Shadow
from controller.rollout.draft import parse_time
from controller.rollout.model import AnalysisOutcome, Observation


def judged_shadows(observation: Observation) -> list[Shadow]:
    """The shadows to judge at this look: those whose pods are Ready (others get no copies)."""
    spec: ModelRolloutSpec = observation.spec
    return [s for s in spec.shadows or () if observation.shadows_ready.get(s.name)]


def previous_shadow(status: ModelRolloutStatus, name: str) -> AnalysisStatus | None:
    """The shadow's last look within the current step (its sequential test's memory)."""
    previous = next((s for s in status.shadows if s.name == name), None)
    started = parse_time(status.step_started_at)
    if previous is None or started is None:
        return previous
    updated = parse_time(previous.updated_at)
    return previous if updated is not None and updated >= started else None


def shadow_verdict(shadow: Shadow, outcome: AnalysisOutcome) -> ShadowVerdict | None:
    if outcome.status is None:
        return None
    fields = outcome.status.model_dump()
    fields["message"] = f"shadow {shadow.name}: {fields['message']}"[:4096]
    return ShadowVerdict(name=shadow.name, gates=shadow.gate, **fields)
