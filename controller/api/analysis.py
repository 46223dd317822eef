"""ModelRollout v1alpha1 spec.analysis: how the candidate is judged (metrics, Prometheus, failure
policies), one of the modules that together are the single source of the CRD's spec schema.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from controller.api.base import DNS_SUBDOMAIN, ApiModel, Name
from controller.api.schema import list_map, rule
from controller.api.strategy import _ON_INCONCLUSIVE, InconclusivePolicy
from controller.contract.metrics import LATENCY_BUCKETS

MetricTemplate = Literal[
    "errorRate", "latencyOver", "latencyShift", "latencyQuantile", "shadowAgreement",
    "feedbackAccuracy",
]
Promql = Annotated[str, Field(min_length=1, max_length=4096)]


class CustomQuery(ApiModel):
    """PromQL with the placeholder {{variant}}; ratio form (numerator/denominator) or value
    form."""

    model_config = ConfigDict(json_schema_extra=rule(
        "(has(self.numerator) && has(self.denominator) && !has(self.value)"
        " && self.numerator.contains('{{variant}}') && self.denominator.contains('{{variant}}'))"
        " || (has(self.value) && !has(self.numerator) && !has(self.denominator)"
        " && self.value.contains('{{variant}}'))",
        "set numerator and denominator (ratio form) or value (value form),"
        " each containing the placeholder {{variant}}",
    ))
    numerator: Promql | None = Field(
        default=None, description="Ratio form: the count of bad (or good) events.")
    denominator: Promql | None = Field(
        default=None, description="Ratio form: the count of all events.")
    value: Promql | None = Field(
        default=None, description="Value form: a per-variant value, e.g. a mean score.")


# The boundaries of modelrouter_request_duration_seconds that are whole milliseconds.
THRESHOLDS_MILLISECONDS = tuple(
    round(b * 1000) for b in LATENCY_BUCKETS if math.isclose(b * 1000, round(b * 1000)))
_THRESHOLD_ON_GRID = (
    "!has(self.template) || self.template != 'latencyOver' || !has(self.thresholdMilliseconds)"
    f" || self.thresholdMilliseconds in {list(THRESHOLDS_MILLISECONDS)}"
)
_EFFECT_ABOVE_TOLERANCE = (
    "!has(self.minimumEffectBasisPoints) || self.minimumEffectBasisPoints >"
    " (has(self.relativeToleranceBasisPoints) ? self.relativeToleranceBasisPoints"
    " : (has(self.toleranceBasisPoints) ? self.toleranceBasisPoints : 0))"
)
_ONE_TOLERANCE_KIND = (
    "!has(self.relativeToleranceBasisPoints) || !has(self.toleranceBasisPoints)"
    " || self.toleranceBasisPoints == 0"
)
_QUANTILE_TEMPLATE = (
    "has(self.quantile) == (has(self.template) && self.template == 'latencyQuantile')"
)
_QUANTILE_RELATIVE = (
    "!has(self.template) || self.template != 'latencyQuantile' || !has(self.toleranceBasisPoints)"
    " || self.toleranceBasisPoints == 0"
)
_TEMPLATE_DIRECTION = (
    "!has(self.template) || !has(self.direction)"
    " || ((self.template == 'latencyOver' || self.template == 'latencyShift'"
    " || self.template == 'latencyQuantile')"
    " ? self.direction == 'LowerIsBetter'"
    " : (self.template != 'shadowAgreement' || self.direction == 'HigherIsBetter'))"
)


class Metric(ApiModel):
    """One metric: a template over the builtin router's metrics or a custom query."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.template) != has(self.query)",
         "message": "set exactly one of template, query"},
        {"rule": "!has(self.template) || self.template != 'latencyOver'"
                 " || has(self.thresholdMilliseconds)",
         "message": "template latencyOver needs thresholdMilliseconds",
         "fieldPath": ".thresholdMilliseconds"},
        {"rule": _THRESHOLD_ON_GRID,
         "message": "thresholdMilliseconds must be a bucket boundary of "
                    "modelrouter_request_duration_seconds: "
                    + ", ".join(str(t) for t in THRESHOLDS_MILLISECONDS),
         "fieldPath": ".thresholdMilliseconds"},
        {"rule": "!has(self.query) || has(self.direction)",
         "message": "a custom query needs direction", "fieldPath": ".direction"},
        {"rule": "!has(self.goal) || (has(self.role) && self.role == 'Success')",
         "message": "goal is only for role: Success", "fieldPath": ".goal"},
        {"rule": _TEMPLATE_DIRECTION,
         "message": "latencyOver and latencyShift measure slowness (LowerIsBetter); "
                    "shadowAgreement is judged against perfect agreement (HigherIsBetter)",
         "fieldPath": ".direction"},
        {"rule": "!has(self.labelDelaySeconds) || self.labelDelaySeconds == 0 || "
                 "(has(self.template) && self.template == 'feedbackAccuracy')",
         "message": "labelDelaySeconds is only for template feedbackAccuracy",
         "fieldPath": ".labelDelaySeconds"},
        {"rule": _EFFECT_ABOVE_TOLERANCE,
         "message": "minimumEffectBasisPoints must exceed the tolerance "
                    "(relativeToleranceBasisPoints when set, else toleranceBasisPoints)",
         "fieldPath": ".minimumEffectBasisPoints"},
        {"rule": _ONE_TOLERANCE_KIND,
         "message": "set toleranceBasisPoints or relativeToleranceBasisPoints, not both",
         "fieldPath": ".relativeToleranceBasisPoints"},
        {"rule": _QUANTILE_TEMPLATE,
         "message": "quantile is set exactly when template is latencyQuantile",
         "fieldPath": ".quantile"},
        {"rule": _QUANTILE_RELATIVE,
         "message": "latencyQuantile is judged on the ratio of the quantiles: use "
                    "relativeToleranceBasisPoints, not toleranceBasisPoints",
         "fieldPath": ".toleranceBasisPoints"},
    ]})
    name: Name = Field(description="The metric's name, unique in metrics.")
    template: MetricTemplate | None = Field(
        default=None, description="errorRate, latencyOver, latencyShift, shadowAgreement or "
        "feedbackAccuracy (builtin router).")
    query: CustomQuery | None = Field(default=None, description="Your own PromQL instead of a "
                                                                "template.")
    threshold_milliseconds: int | None = Field(
        default=None, ge=1, le=600_000, description="latencyOver: the share of requests slower "
        "than this (a bucket boundary).")
    direction: Literal["LowerIsBetter", "HigherIsBetter"] | None = Field(
        default=None, description="Defaults from the template."
    )
    role: Literal["Guardrail", "Success"] = Field(
        default="Guardrail", description="Guardrail: a significant harm fails the rollout; "
        "Success: the rollout passes only when it is shown.")
    tolerance_basis_points: int = Field(
        default=0, ge=0, le=10_000,
        description="Non-inferiority margin: absolute for proportions (50 = 0.5 points), "
        "relative for value metrics (50 = 0.5% of stable).",
    )
    relative_tolerance_basis_points: int | None = Field(
        default=None, ge=0, le=9_999,
        description="Non-inferiority margin relative to stable: 1000 = the candidate may be "
        "up to 10% worse than stable (candidate/stable - 1). Instead of toleranceBasisPoints; "
        "minimumEffectBasisPoints is then relative too.",
    )
    quantile: int | None = Field(
        default=None, ge=1, le=99,
        description="template latencyQuantile: the percentile compared, 99 = p99 latency.",
    )
    minimum_effect_basis_points: int | None = Field(
        default=None, ge=1, le=10_000,
        description="Smallest effect worth detecting; drives 'samples still needed'.",
    )
    goal: Literal["NotWorse", "Improve"] | None = Field(
        default=None,
        description="Role Success only: what a pass needs. NotWorse (the default): not worse "
        "than stable by more than toleranceBasisPoints; Improve: better than stable (by more "
        "than 0; minimumEffectBasisPoints sizes the sample to detect that improvement).",
    )
    label_delay_seconds: int = Field(
        default=0, ge=0, le=2_592_000,
        description="feedbackAccuracy only: how long labels take to arrive. The metric counts "
        "labels of predictions served in the current step and is judged only once the step "
        "is this old (so a timed analysis step's durationSeconds must be at least this).",
    )


class FailurePolicy(ApiModel):
    """Looks with missing data (onMissingData) or provider errors (onProviderError): tolerated
    up to maxConsecutive looks and deadlineSeconds, then the action, never a promotion."""

    action: Literal["Hold", "Rollback"] = Field(
        default="Hold",
        description="Past the limit: Rollback rolls back; Hold pauses the rollout for a person "
                    "(phase Paused, reason AnalysisNoData or AnalysisProviderError).",
    )
    max_consecutive: int = Field(
        default=4, ge=1, le=1000, description="Failed intervals tolerated before the action."
    )
    deadline_seconds: int = Field(
        default=600, ge=10, le=86_400,
        description="Seconds of consecutive failed looks tolerated before the action, however "
                    "few the looks (whichever of this and maxConsecutive comes first).",
    )


class SampleRatioCheck(ApiModel):
    """Checks that the traffic split seen in the metrics matches the weights."""

    threshold_basis_points: int = Field(
        default=10, ge=1, le=500, description="Flag a mismatch when p < this/10000 (10 = 0.001)."
    )
    action: Literal["Hold", "Rollback"] = Field(
        default="Hold", description="On a mismatch: Hold pauses for a person; Rollback rolls "
        "back.")


# Printable ASCII without spaces: no control characters reach a request line or a log.
PROMETHEUS_ADDRESS = r"^https?://[!-~]+$"
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"


class KeyReference(ApiModel):
    """One key of a ConfigMap in the rollout's namespace."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
                      description="The ConfigMap's name.")
    key: str = Field(min_length=1, max_length=253, pattern=CONFIG_KEY,
                     description="The key whose value is the PEM bundle.")


class CaBundle(ApiModel):
    """PEM certificates that sign the Prometheus server's certificate, used instead of the
    system trust store (a ConfigMap: CA certificates are public, and the operator never reads
    Secrets)."""

    config_map_key_ref: KeyReference = Field(
        description="A ConfigMap key holding the PEM bundle, in the rollout's namespace.")


class PrometheusSource(ApiModel):
    """The Prometheus that has the router's (or your own) metrics."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "!has(self.caBundle) || !self.insecureSkipVerify",
         "message": "set caBundle or insecureSkipVerify, not both",
         "fieldPath": ".insecureSkipVerify"},
        {"rule": "(!has(self.caBundle) && !self.insecureSkipVerify)"
                 " || self.address.startsWith('https://')",
         "message": "caBundle and insecureSkipVerify apply to an https:// address",
         "fieldPath": ".address"},
    ]})
    address: str = Field(
        min_length=1, max_length=512, pattern=PROMETHEUS_ADDRESS,
        description="The base URL, http:// or https:// (printable ASCII, no spaces), e.g. "
                    "http://prometheus.monitoring:9090.")
    timeout_seconds: int = Field(default=5, ge=1, le=60,
                                 description="Each query's deadline, connect to last byte.")
    ca_bundle: CaBundle | None = Field(
        default=None, description="https: verify the server against these CAs instead of the "
        "system trust store.")
    insecure_skip_verify: bool = Field(
        default=False, description="https: do not verify the server's certificate (anyone "
        "on the path can then forge the metrics that promote a model).")

    @model_validator(mode="after")
    def _tls_settings(self) -> PrometheusSource:
        if self.ca_bundle is not None and self.insecure_skip_verify:
            raise ValueError("set caBundle or insecureSkipVerify, not both")
        if (self.ca_bundle is not None or self.insecure_skip_verify) \
                and not self.address.startswith("https://"):
            raise ValueError("caBundle and insecureSkipVerify apply to an https:// address")
        return self


class Analysis(ApiModel):
    """How the candidate is judged: metrics from Prometheus, sequential tests."""

    interval_seconds: int = Field(default=15, ge=1, le=3600,
                                  description="Seconds between two looks.")
    prometheus: PrometheusSource = Field(description="Where the metrics are.")
    metrics: Annotated[list[Metric], list_map("name")] = Field(
        min_length=1, max_length=20, description="What is judged, unique by name.")
    significance_basis_points: int = Field(
        default=500, ge=1, le=2000, description="Family-wise alpha across guardrails; 500 = 0.05."
    )
    min_samples: int = Field(default=100, ge=1, le=100_000_000, description="Per variant.")
    sample_ratio: SampleRatioCheck = Field(
        default=SampleRatioCheck(), description="The check of the traffic split.")
    on_missing_data: FailurePolicy = Field(
        default=FailurePolicy(),
        description="Looks where a metric or the traffic split has no data.")
    on_provider_error: FailurePolicy = Field(
        default=FailurePolicy(),
        description="Looks where Prometheus failed, timed out or was unreachable.")
    on_inconclusive: InconclusivePolicy = Field(
        default="Hold", description=_ON_INCONCLUSIVE + " An analysis step's own setting wins.")
