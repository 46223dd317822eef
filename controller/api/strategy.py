"""How a new version moves forward: canary steps (weights, pauses, mirrors, analysis, chaos),
blue/green, and long-lived shadows."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from controller.api.base import (
    DNS_LABEL,
    HTTP_TOKEN,
    ApiModel,
    DurationSeconds,
    Name,
    Percent,
)
from controller.api.schema import exactly_one_of, rule
from controller.api.template import (
    PodTemplate,
)


class PauseStep(ApiModel):
    duration_seconds: DurationSeconds | None = Field(
        default=None, description="Without it the rollout waits until promoted."
    )


InconclusivePolicy = Literal["Hold", "Rollback", "Promote"]
_ON_INCONCLUSIVE = (
    "At the end of durationSeconds (with minSamples reached) a verdict still Inconclusive: "
    "Hold pauses the rollout for a person (reason AnalysisInconclusive), Rollback rolls back, "
    "Promote continues and says so."
)


class AnalysisStep(ApiModel):
    """Judge the candidate for durationSeconds and/or until each variant has minSamples."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.durationSeconds) || has(self.minSamples)",
         "message": "an analysis step needs durationSeconds or minSamples"},
        {"rule": "!has(self.onInconclusive) || has(self.durationSeconds)",
         "message": "onInconclusive applies at the end of durationSeconds: set durationSeconds "
                    "(a step with minSamples only ends on a Pass)",
         "fieldPath": ".onInconclusive"},
    ]})
    duration_seconds: DurationSeconds | None = Field(
        default=None, description="Watch this long; a Pass ends the step only at the end.")
    min_samples: int | None = Field(
        default=None, ge=1, le=100_000_000,
        description="The step never ends before each variant has this many samples; with it "
                    "alone, a Pass ends the step as soon as it is reached.")
    on_inconclusive: InconclusivePolicy | None = Field(
        default=None, description=_ON_INCONCLUSIVE + " Defaults to spec.analysis.onInconclusive.")


class MirrorStep(ApiModel):
    """Shadow the candidate: a copy of percent% of requests, none of it live. With analysis the
    candidate is judged as a shadow on the same requests as the stable (its errors, latency,
    agreement and paired label accuracy), and a Fail rolls it back before any user sees it."""

    model_config = ConfigDict(json_schema_extra=rule(
        "!(has(self.analysis) && has(self.durationSeconds))",
        "a judged mirror step lasts as its analysis says: set analysis.durationSeconds, not "
        "durationSeconds", field_path=".durationSeconds"))
    percent: int = Field(ge=1, le=100)
    duration_seconds: DurationSeconds | None = None
    analysis: AnalysisStep | None = Field(
        default=None, description="Judge the candidate as a shadow during the mirror "
                                  "(spec.analysis's metrics; the step ends as an analysis "
                                  "step does).")


class HeaderMatch(ApiModel):
    """A request header with exactly this value (the name matched case-insensitively)."""

    name: str = Field(min_length=1, max_length=128, pattern=HTTP_TOKEN)
    value: str = Field(max_length=256)


CHAOS_SELECTORS = ("segment", "header", "hashedFractionBasisPoints")


class ChaosStep(ApiModel):
    """Inject faults into a fraction of the candidate's answers (builtin router): the step
    passes only when the analysis catches them within durationSeconds (MonitoringDetectedFault);
    an analysis blind to them stops the rollout (MonitoringBlind, rolled back). An optional
    selector (at most one) confines the faults to a subpopulation, a bias fault: the fraction
    then applies within it."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.errorStatus) || has(self.addedLatencyMilliseconds)"
                 " || (has(self.corruptPrediction) && self.corruptPrediction)",
         "message": "a chaos step needs errorStatus, addedLatencyMilliseconds or "
                    "corruptPrediction"},
        {"rule": " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in CHAOS_SELECTORS) + " <= 1",
         "message": "a chaos step takes at most one of " + ", ".join(CHAOS_SELECTORS)},
    ]})
    fraction_basis_points: int = Field(ge=1, le=10_000, description="10000 = every request.")
    error_status: int | None = Field(default=None, ge=400, le=599)
    added_latency_milliseconds: int | None = Field(default=None, ge=1, le=60_000)
    corrupt_prediction: bool | None = None
    duration_seconds: DurationSeconds = 60
    segment: Name | None = Field(
        default=None, description="Only requests of this segment's units (a name of "
                                  "trafficRouting.builtin.overrides.segments).")
    header: HeaderMatch | None = Field(
        default=None, description="Only requests carrying this header value.")
    hashed_fraction_basis_points: int | None = Field(
        default=None, ge=1, le=10_000,
        description="Only requests of this fraction of units (a sticky hash of the unit id; "
                    "requests without a unit id are never faulted).")

    @model_validator(mode="after")
    def _one_selector(self) -> ChaosStep:
        chosen = [s for s in (self.segment, self.header, self.hashed_fraction_basis_points)
                  if s is not None]
        if len(chosen) > 1:
            raise ValueError("a chaos step takes at most one of " + ", ".join(CHAOS_SELECTORS))
        return self


STEP_KINDS = ("setWeight", "pause", "mirror", "analysis", "chaos")


class CanaryStep(ApiModel):
    model_config = ConfigDict(json_schema_extra=exactly_one_of(*STEP_KINDS))
    set_weight: Percent | None = None
    pause: PauseStep | None = None
    mirror: MirrorStep | None = None
    analysis: AnalysisStep | None = None
    chaos: ChaosStep | None = None

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if self.model_dump(by_alias=True).get(k) is not None)


class CanaryStrategy(ApiModel):
    steps: list[CanaryStep] = Field(min_length=1, max_length=50)
    scale_down_delay_seconds: DurationSeconds = 30


class BlueGreenStrategy(ApiModel):
    """The candidate gets no live traffic behind the preview Service until the switch."""

    auto_promote: bool = False
    auto_promotion_seconds: DurationSeconds | None = Field(
        default=None, description="With autoPromote, wait this long after the candidate is Ready."
    )
    pre_promotion_analysis: AnalysisStep | None = None
    preview_mirror_percent: Percent = Field(
        default=100, description="With the builtin router and prePromotionAnalysis, this % of "
                                 "live requests is copied to the previewed candidate (it never "
                                 "answers them), which is judged as a shadow on them.")
    scale_down_delay_seconds: DurationSeconds = 30


class Strategy(ApiModel):
    model_config = ConfigDict(json_schema_extra=exactly_one_of("canary", "blueGreen"))
    canary: CanaryStrategy | None = None
    blue_green: BlueGreenStrategy | None = None


class Shadow(ApiModel):
    """A long-lived shadow model: receives a copy of mirrorPercent% of requests, never answers."""

    model_config = ConfigDict(json_schema_extra=rule(
        "self.name != 'stable' && self.name != 'candidate'",
        "shadow names stable and candidate are reserved", field_path=".name",
    ))
    name: str = Field(min_length=1, max_length=15, pattern=DNS_LABEL,
                      description="Short: it names the shadow's Service, <rollout>-sh-<name>.")
    template: PodTemplate
    replicas: int = Field(default=1, ge=0, le=100)
    mirror_percent: int = Field(ge=1, le=100)
    gate: bool = Field(
        default=False, description="Also gate the rollout: this shadow's Fail (judged at each "
                                   "analysis look, like the candidate) rolls the candidate "
                                   "back. Otherwise its verdict is only reported.")
