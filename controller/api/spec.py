"""ModelRollout v1alpha1 spec: the single source of the CRD's spec schema.

Conventions: camelCase on the wire, durations as `...Seconds` integers, ratios as integer percent
or basis points (no floats in spec), every number, string and list bounded. Cross-field rules are
CEL (`x-kubernetes-validations`) so that the API server rejects bad manifests at admission.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from controller.api.analysis import Analysis
from controller.api.base import ApiModel
from controller.api.label_delay import RULES as LABEL_DELAY_RULES
from controller.api.label_delay import label_delay_refusal
from controller.api.routing import (
    BuiltinRouter,
    TrafficRouting,
)
from controller.api.schema import list_map
from controller.api.status import HISTORY_MAX_ITEMS
from controller.api.strategy import (
    Shadow,
    Strategy,
)
from controller.api.template import (
    PodTemplate,
)

_ANALYSIS_NEEDED = (
    "!has(self.strategy.canary) || !self.strategy.canary.steps.exists(s, has(s.analysis))"
    " || has(self.analysis)"
)
_MIRROR_ANALYSIS_NEEDED = (
    "!has(self.strategy.canary) || !self.strategy.canary.steps.exists(s, has(s.mirror)"
    " && has(s.mirror.analysis)) || has(self.analysis)"
)
# Templates see the previewed candidate only on the copies the router sends it.
_BG_PREVIEW_MIRRORED = (
    "!has(self.strategy.blueGreen) || !has(self.strategy.blueGreen.prePromotionAnalysis)"
    " || !has(self.strategy.blueGreen.previewMirrorPercent)"
    " || self.strategy.blueGreen.previewMirrorPercent > 0"
    " || !has(self.analysis) || !self.analysis.metrics.exists(m, has(m.template))"
)
_BG_ANALYSIS_NEEDED = (
    "!has(self.strategy.blueGreen) || !has(self.strategy.blueGreen.prePromotionAnalysis)"
    " || has(self.analysis)"
)


_BUILTIN = "has(self.trafficRouting) && has(self.trafficRouting.builtin)"
_PREDICTION = f"{_BUILTIN} && has(self.trafficRouting.builtin.prediction)"
_CHAOS = "has(self.strategy.canary) && self.strategy.canary.steps.exists(s, has(s.chaos))"
_COMPARING_TEMPLATES = (
    "has(self.analysis) && self.analysis.metrics.exists(m, has(m.template)"
    " && (m.template == 'feedbackAccuracy' || m.template == 'shadowAgreement'))"
)
_SPEC_RULES: list[Any] = [
    # The builtin router's metrics: other routers' traffic never passes it.
    {"rule": "!has(self.analysis) || !self.analysis.metrics.exists(m, has(m.template))"
             f" || ({_BUILTIN})",
     "message": "metric templates read the builtin router's metrics: with gatewayAPI or istio "
                "use custom queries",
     "fieldPath": ".trafficRouting"},
    # The router compares predictions (shadows, feedback labels) only with a prediction path.
    {"rule": f"!({_COMPARING_TEMPLATES}) || ({_PREDICTION})",
     "message": "templates feedbackAccuracy and shadowAgreement compare predictions: set "
                "spec.trafficRouting.builtin.prediction",
     "fieldPath": ".trafficRouting.builtin.prediction"},
    {"rule": f"!({_CHAOS}) || ({_BUILTIN})",
     "message": "chaos steps inject faults in the builtin router: set spec.trafficRouting.builtin",
     "fieldPath": ".trafficRouting"},
    {"rule": f"!({_CHAOS}) || has(self.analysis)",
     "message": "chaos steps prove that the analysis catches a fault: set spec.analysis",
     "fieldPath": ".analysis"},
    {"rule": "!has(self.strategy.canary) || !self.strategy.canary.steps.exists(s, has(s.chaos)"
             " && has(s.chaos.corruptPrediction) && s.chaos.corruptPrediction)"
             f" || ({_PREDICTION})",
     "message": "corruptPrediction needs spec.trafficRouting.builtin.prediction (where the "
                "prediction is)",
     "fieldPath": ".trafficRouting.builtin.prediction"},
]


_CHAOS_SEGMENTS_EXIST = (
    "!has(self.strategy.canary) || self.strategy.canary.steps.all(s,"
    " !has(s.chaos) || !has(s.chaos.segment)"
    " || (has(self.trafficRouting.builtin) && has(self.trafficRouting.builtin.overrides)"
    " && has(self.trafficRouting.builtin.overrides.segments)"
    " && self.trafficRouting.builtin.overrides.segments.exists(g, g.name == s.chaos.segment)))"
)

_SEGMENT_VARIANTS_EXIST = (
    "!has(self.trafficRouting.builtin) || !has(self.trafficRouting.builtin.overrides)"
    " || !has(self.trafficRouting.builtin.overrides.segments)"
    " || self.trafficRouting.builtin.overrides.segments.all(s,"
    " s.variant == 'stable' || s.variant == 'candidate'"
    " || (has(self.shadows) && self.shadows.exists(h, h.name == s.variant)))"
)


class ModelRolloutSpec(ApiModel):
    """A model server and how its new versions are released."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": _ANALYSIS_NEEDED, "message": "analysis steps need spec.analysis",
         "fieldPath": ".analysis"},
        {"rule": _SEGMENT_VARIANTS_EXIST,
         "message": "a segment's variant must be stable, candidate or the name of a shadow",
         "fieldPath": ".trafficRouting.builtin.overrides.segments"},
        {"rule": _CHAOS_SEGMENTS_EXIST,
         "message": "a chaos step's segment must name a segment of "
                    "spec.trafficRouting.builtin.overrides.segments",
         "fieldPath": ".strategy.canary.steps"},
        {"rule": _BG_ANALYSIS_NEEDED, "message": "prePromotionAnalysis needs spec.analysis",
         "fieldPath": ".analysis"},
        {"rule": _MIRROR_ANALYSIS_NEEDED, "message": "a mirror step's analysis needs "
                                                    "spec.analysis", "fieldPath": ".analysis"},
        {"rule": _BG_PREVIEW_MIRRORED,
         "message": "metric templates judge the blue/green preview on the requests mirrored "
                    "to it: previewMirrorPercent must be above 0",
         "fieldPath": ".strategy.blueGreen.previewMirrorPercent"},
        *_SPEC_RULES,
        *LABEL_DELAY_RULES,
    ]})
    replicas: int = Field(default=1, ge=0, le=1000, description="Pods of each revision.")
    template: PodTemplate = Field(description="The model server's core/v1 pod template; a change "
                                              "is a new revision and starts a rollout.")
    port: int = Field(ge=1, le=65535, description="The port clients call.")
    target_port: int | None = Field(
        default=None, ge=1, le=65535, description="The model server's port; defaults to port."
    )
    traffic_routing: TrafficRouting = Field(
        default=TrafficRouting(builtin=BuiltinRouter()),
        description="Who splits the traffic; the builtin router by default.")
    strategy: Strategy = Field(description="canary or blueGreen.")
    shadows: Annotated[list[Shadow] | None, list_map("name")] = Field(
        default=None, max_length=5, description="Long-lived shadow models, unique by name.")
    analysis: Analysis | None = Field(
        default=None, description="How the candidate is judged; needed by analysis steps.")
    progress_deadline_seconds: int = Field(
        default=600, ge=10, le=86_400,
        description="A candidate not Ready within this long is rolled back.")
    revision_history_limit: int = Field(
        default=10, ge=1, le=HISTORY_MAX_ITEMS,
        description="How many finished rollouts (promoted, rolled back, aborted or superseded) "
                    "status.history keeps; the oldest beyond it are dropped. Deployments are "
                    "not kept by it: an old stable's is deleted after scaleDownDelaySeconds.",
    )

    @model_validator(mode="after")
    def _steps_outlast_label_delays(self) -> ModelRolloutSpec:
        # CEL refuses it at admission; this names it for an object admitted before the rule.
        if self.analysis is not None:
            refused = label_delay_refusal(
                self.strategy, [m.label_delay_seconds for m in self.analysis.metrics])
            if refused is not None:
                raise ValueError(refused)
        return self


def spec_from_dict(spec: dict[str, Any]) -> ModelRolloutSpec:
    return ModelRolloutSpec.model_validate(spec)
