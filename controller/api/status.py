"""ModelRollout v1alpha1 status: observed state only, written by the operator alone."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from controller.api.schema import list_map

ConditionType = Literal["Progressing", "Paused", "Healthy", "Degraded", "TrafficVerified"]
Phase = Literal["Initializing", "Progressing", "Paused", "Healthy", "Degraded"]
Verdict = Literal["Pass", "Fail", "Inconclusive", "NoData", "Error", "SampleRatioMismatch"]
Outcome = Literal["Promoted", "RolledBack", "Aborted", "Superseded"]

HISTORY_MAX_ITEMS = 20  # the largest spec.revisionHistoryLimit
SCALE_DOWNS_MAX_ITEMS = 10
STEP_RESULTS_MAX_ITEMS = 50  # the most steps a strategy has
# status.analysisHistory: the analysed steps of the current (or last) rollout, newest kept,
# each with its looks thinned (oldest first) to a fixed number, so reports can draw them.
ANALYSIS_HISTORY_MAX_STEPS = 10
LOOKS_PER_STEP_MAX = 20

Revision = Annotated[str, Field(max_length=63)]
Timestamp = Annotated[str, Field(max_length=64, json_schema_extra={"format": "date-time"})]
Message = Annotated[str, Field(max_length=4096)]
Reason = Annotated[str, Field(max_length=256, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")]


class StatusModel(BaseModel):
    """Status tolerates fields it does not know, so an older operator can read a newer status."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Condition(StatusModel):
    """A metav1.Condition."""

    type: ConditionType = Field(description="Progressing, Paused, Healthy, Degraded or "
                                            "TrafficVerified.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: Reason = Field(description="One CamelCase word saying why, e.g. InvalidTemplate.")
    message: Message = Field(default="", description="The reason in words, for a person.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this condition is about.")
    last_transition_time: Timestamp = Field(description="When status last changed.")


class Mirror(StatusModel):
    """A copy of some requests sent to a variant whose answers are not returned."""

    variant: Annotated[str, Field(max_length=63)] = Field(
        description="candidate or the name of a shadow.")
    percent: int = Field(ge=0, le=100, description="The share of requests copied to it.")


class Traffic(StatusModel):
    """What the traffic router was last told (and verified) to do."""

    stable_weight: int = Field(default=100, ge=0, le=100,
                               description="Percent of live requests answered by stable.")
    candidate_weight: int = Field(default=0, ge=0, le=100,
                                  description="Percent of live requests answered by the candidate.")
    mirrors: list[Mirror] = Field(
        default_factory=list, max_length=8,
        description="Copies of requests sent to variants that do not answer.")


class VariantSamples(StatusModel):
    """Samples per variant (requests, comparisons, labels or evaluation points)."""

    stable: int = Field(default=0, ge=0, description="Samples of stable.")
    candidate: int = Field(default=0, ge=0, description="Samples of the candidate.")


class LabelCoverage(StatusModel):
    """Delayed labels received for the predictions served in the step, per variant."""

    labels: VariantSamples = Field(default=VariantSamples(),
                                   description="Labels joined (prediction tokens verified).")
    predictions: VariantSamples = Field(default=VariantSamples(),
                                        description="Predictions served with a token.")


class LookMetric(StatusModel):
    """One metric at one look: its verdict and numbers."""

    name: Annotated[str, Field(max_length=63)] = Field(description="The metric's name in spec.")
    verdict: Verdict = Field(description="Pass, Fail, Inconclusive, NoData, Error or "
                                         "SampleRatioMismatch.")
    samples: VariantSamples = Field(default=VariantSamples(),
                                    description="How many samples each variant had.")
    estimate: float | None = Field(default=None, description="Candidate minus stable.")
    lower: float | None = Field(default=None, description="Lower end of the confidence "
                                                          "interval of the estimate.")
    upper: float | None = Field(default=None, description="Upper end of the confidence "
                                                          "interval of the estimate.")
    p_value: float | None = Field(default=None, description="The sequential test's p-value.")
    lift: float | None = Field(default=None, description="Candidate / stable - 1 (0.25 = +25%).")
    lift_lower: float | None = Field(default=None, description="Lower bound of the lift's "
                                     "interval (same level as lower..upper).")
    lift_upper: float | None = Field(default=None, description="Upper bound of the lift's "
                                     "interval.")
    label_coverage: LabelCoverage | None = Field(
        default=None, description="feedbackAccuracy: labels received / predictions served.")


class MetricResult(LookMetric):
    """One metric at the last look, with what is still needed and the verdict in words."""

    samples_needed: int | None = Field(
        default=None, ge=0, description="About how many more samples per variant a verdict needs.")
    test: Annotated[str, Field(max_length=128)] = Field(
        default="", description="How it is judged, e.g. 'two proportions, one-sided mSPRT'.")
    reason: Message = Field(default="", description="The verdict in words.")


class AnalysisStatus(StatusModel):
    """The analysis' last look at the current step."""

    verdict: Verdict = Field(description="The overall verdict of the last look.")
    updated_at: Timestamp = Field(description="When the last look was taken.")
    sample_ratio_p_value: float | None = Field(
        default=None, description="p-value of the sample-ratio check of the traffic split.")
    consecutive_missing: int = Field(default=0, ge=0,
                                     description="Looks in a row with missing data.")
    consecutive_errors: int = Field(default=0, ge=0,
                                    description="Looks in a row with provider errors.")
    missing_since: Timestamp | None = Field(
        default=None, description="First look of the current run of looks with missing data.")
    errors_since: Timestamp | None = Field(
        default=None, description="First look of the current run of looks with provider errors.")
    message: Message = Field(default="", description="This look's verdict, in words.")
    metrics: Annotated[list[MetricResult], list_map("name")] = Field(
        default_factory=list, max_length=20, description="Each metric's verdict and numbers."
    )


class ShadowVerdict(AnalysisStatus):
    """A long-lived shadow judged like the candidate, as a shadow on the stable's requests."""

    name: Annotated[str, Field(max_length=15)] = Field(description="spec.shadows[].name.")
    gates: bool = Field(default=False, description="Its Fail rolls the candidate back "
                                                   "(spec.shadows[].gate).")


class Hold(StatusModel):
    """The analysis stopped the current step for a person; it keeps looking meanwhile."""

    reason: Reason = Field(description="AnalysisInconclusive, AnalysisNoData, "
                                        "AnalysisProviderError or SampleRatioMismatch.")
    message: Message = Field(default="", description="What is missing and what a person can do.")
    since: Timestamp = Field(description="When the analysis first held the step for this reason.")


class StepResult(StatusModel):
    """How one step of the current (or last) rollout ended."""

    index: int = Field(ge=0, le=50, description="0-based, as currentStepIndex.")
    step: Annotated[str, Field(max_length=128)] = Field(description="e.g. 'pause 60s'.")
    judged: bool = Field(description="True when the analysis's verdict ended the step; false "
                                     "when time, traffic, readiness, a command or a policy did.")
    verdict: Verdict | None = Field(
        default=None, description="The verdict that ended it, else the last look's (analysed "
                                  "steps only).")
    message: Message = Field(default="", description="As in its Event, e.g. 'step 2/4 "
                             "(analysis): judged Pass — errors n=1200/300 ...'.")
    finished_at: Timestamp = Field(description="When the step ended.")


class AnalysisLook(StatusModel):
    """One look of the analysis, with the traffic it was taken under."""

    at: Timestamp = Field(description="When the look was taken.")
    verdict: Verdict = Field(description="The look's overall verdict.")
    stable_weight: int = Field(default=100, ge=0, le=100,
                               description="Percent of live requests on stable at the look.")
    candidate_weight: int = Field(default=0, ge=0, le=100,
                                  description="Percent of live requests on the candidate.")
    mirrors: list[Mirror] = Field(default_factory=list, max_length=8,
                                  description="The mirrors in place at the look.")
    metrics: Annotated[list[LookMetric], list_map("name")] = Field(
        default_factory=list, max_length=20, description="Each metric at the look.")


class StepAnalysis(StatusModel):
    """The looks of one analysed step, oldest first; thinned to LOOKS_PER_STEP_MAX (the first
    and the last look are always kept)."""

    index: int = Field(ge=0, le=50, description="0-based, as currentStepIndex.")
    step: Annotated[str, Field(max_length=128)] = Field(description="e.g. 'analysis'.")
    looks: list[AnalysisLook] = Field(default_factory=list, max_length=LOOKS_PER_STEP_MAX,
                                      description="The step's looks, oldest first.")


class HistoryEntry(StatusModel):
    """One finished rollout."""

    revision: Revision = Field(description="The candidate revision it rolled out.")
    outcome: Outcome = Field(description="Promoted, RolledBack, Aborted or Superseded.")
    reason: Reason = Field(description="Why, in one CamelCase word.")
    message: Message = Field(default="", description="Why, in words.")
    finished_at: Timestamp = Field(description="When it finished.")


class ScaleDown(StatusModel):
    """An old stable revision kept warm until `at`, so a quick rollback finds it running."""

    revision: Revision = Field(description="The old stable revision.")
    at: Timestamp = Field(description="When its Deployment is scaled down.")


class ModelRolloutStatus(StatusModel):
    """What the operator observed and did; written by the operator alone."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this status is about.")
    phase: Phase | None = Field(default=None, description="For display only; use conditions.")
    message: Message | None = Field(default=None, description="What is happening, in words.")
    stable_revision: Revision | None = Field(
        default=None, description="The template revision serving live traffic.")
    candidate_revision: Revision | None = Field(
        default=None, description="The template revision being rolled out, if any.")
    rejected_revision: Revision | None = Field(
        default=None,
        description="Rolled back or aborted; not tried again until `retry` or a new template.",
    )
    current_step_index: int | None = Field(
        default=None, ge=0, le=50, description="The canary step in progress, 0-based.")
    step_started_at: Timestamp | None = Field(default=None,
                                              description="When the current step started.")
    rollout_started_at: Timestamp | None = Field(
        default=None, description="When the current rollout started.")
    candidate_unready_since: Timestamp | None = Field(
        default=None, description="progressDeadlineSeconds counts from here."
    )
    candidate_ready_at: Timestamp | None = Field(
        default=None, description="When every candidate replica was first Ready.")
    paused_by_user: bool = Field(default=False,
                                 description="True after a pause command, until resume.")
    last_command: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description="The last manual command processed (annotation value)."
    )
    scale_downs: list[ScaleDown] = Field(
        default_factory=list, max_length=SCALE_DOWNS_MAX_ITEMS,
        description="Old stable revisions kept warm, with when each is scaled down.")
    traffic: Traffic | None = Field(default=None,
                                    description="What the traffic router was last told to do.")
    analysis: AnalysisStatus | None = Field(
        default=None, description="The analysis' last look at the current step.")
    hold: Hold | None = Field(
        default=None, description="Set while the analysis holds the step for a person.")
    shadows: Annotated[list[ShadowVerdict], list_map("name")] = Field(
        default_factory=list, max_length=5,
        description="Each long-lived shadow's verdict at the last analysis look (over the "
                    "current step's window).")
    step_results: list[StepResult] = Field(
        default_factory=list, max_length=STEP_RESULTS_MAX_ITEMS,
        description="How each step of the current (or last) rollout ended, in order.")
    analysis_history: list[StepAnalysis] = Field(
        default_factory=list, max_length=ANALYSIS_HISTORY_MAX_STEPS,
        description="The analysis' looks per analysed step of the current (or last) rollout, "
                    "bounded: the newest steps, each thinned to a fixed number of looks.")
    conditions: Annotated[list[Condition], list_map("type")] = Field(
        default_factory=list, max_length=8,
        description="Progressing, Paused, Healthy, Degraded and TrafficVerified, with reasons."
    )
    history: list[HistoryEntry] = Field(
        default_factory=list, max_length=HISTORY_MAX_ITEMS,
        description="Finished rollouts, oldest first; spec.revisionHistoryLimit bounds it.",
    )
