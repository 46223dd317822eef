"""Valid ModelRollouts: the counterpart of each admission rule, what the rule must let through."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from tests.full_pod import FULL_POD_SPEC
from tests.manifest_edits import (
    BLUE_GREEN,
    CHAOS,
    CUSTOM_METRIC,
    DELAYED_LABELS,
    ISTIO,
    JUDGED_MIRROR,
    PREDICTION,
    SEGMENTS,
    Manifest,
    all_of,
    edited_manifest,
    replace_step,
    set_field,
    set_metrics,
    set_prometheus,
    spec_of,
    steps_of,
)


@dataclass(frozen=True)
class ValidCase:
    """The valid counterpart of a rule: what the rule must let through."""

    id: str
    mutate: Callable[[Manifest], None]

    def manifest(self) -> Manifest:
        return edited_manifest(self.id, self.mutate)


VALID_CASES = [
    ValidCase("every-common-container-field", lambda m: spec_of(m).update(template={
        "metadata": {"labels": {"app.kubernetes.io/name": "fraud"},
                     "annotations": {"example.com/owner": "team ml, on call"}},
        "spec": copy.deepcopy(FULL_POD_SPEC)})),
    ValidCase("prometheus-https-with-ca-bundle", set_prometheus(
        address="https://prometheus.monitoring:9090",
        caBundle={"configMapKeyRef": {"name": "prometheus-ca", "key": "ca.crt"}})),
    ValidCase("prometheus-https-insecure", set_prometheus(
        address="https://prometheus.monitoring:9090", insecureSkipVerify=True)),
    ValidCase("judged-mirror-step", replace_step(1, JUDGED_MIRROR)),
    ValidCase("blue-green-preview-judged", set_field(spec_of, "strategy", BLUE_GREEN)),
    ValidCase("feedback-accuracy-with-prediction", all_of(
        set_field(spec_of, "trafficRouting", PREDICTION),
        replace_step(1, {"analysis": {"durationSeconds": 3600}}),
        set_metrics({"name": "accuracy", "template": "feedbackAccuracy", "role": "Success",
                     "labelDelaySeconds": 3600}))),
    ValidCase("label-delay-with-a-samples-only-step", all_of(
        DELAYED_LABELS, replace_step(1, {"analysis": {"minSamples": 500}}))),
    ValidCase("label-delay-within-every-timed-step", all_of(
        DELAYED_LABELS, replace_step(1, {"analysis": {"durationSeconds": 7200}}),
        lambda m: steps_of(m).append({"mirror": {"percent": 10, "analysis": {
            "durationSeconds": 3600}}}))),
    ValidCase("custom-queries-with-istio",
              all_of(set_field(spec_of, "trafficRouting", ISTIO), set_metrics(CUSTOM_METRIC))),
    ValidCase("chaos-with-builtin-and-analysis", replace_step(1, CHAOS)),
    ValidCase("chaos-on-a-segment", all_of(
        set_field(spec_of, "trafficRouting", SEGMENTS),
        replace_step(1, {"chaos": {**CHAOS["chaos"], "segment": "beta"}}))),
    ValidCase("corrupt-prediction-with-prediction", all_of(
        set_field(spec_of, "trafficRouting", PREDICTION),
        replace_step(1, {"chaos": {"fractionBasisPoints": 500, "corruptPrediction": True}}))),
    ValidCase("latency-threshold-on-the-grid", set_metrics(
        {"name": "slow", "template": "latencyOver", "thresholdMilliseconds": 250})),
    ValidCase("relative-tolerance-and-latency-quantile", set_metrics(
        {"name": "errors", "template": "errorRate", "relativeToleranceBasisPoints": 1000,
         "minimumEffectBasisPoints": 2000},
        {"name": "p99", "template": "latencyQuantile", "quantile": 99,
         "relativeToleranceBasisPoints": 2000})),
    ValidCase("on-inconclusive-and-deadlines", all_of(
        replace_step(1, {"analysis": {"durationSeconds": 60, "minSamples": 500,
                                      "onInconclusive": "Rollback"}}),
        lambda m: spec_of(m)["analysis"].update(
            onInconclusive="Promote", onMissingData={"action": "Rollback", "deadlineSeconds": 300},
            onProviderError={"deadlineSeconds": 900}))),
]
