"""Invalid ModelRollouts: each must be rejected at admission with a message naming the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.full_pod import FULL_POD_SPEC

Manifest = dict[str, Any]


def valid_manifest(name: str = "valid") -> Manifest:
    return {
        "apiVersion": "rollouts.mlops.dev/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": name},
        "spec": {
            "template": {"spec": {"containers": [{"name": "server", "image": "model:1"}]}},
            "port": 8080,
            "strategy": {"canary": {"steps": [
                {"setWeight": 20}, {"analysis": {"durationSeconds": 60}},
            ]}},
            "analysis": {
                "prometheus": {"address": "http://prometheus:9090"},
                "metrics": [{"name": "errors", "template": "errorRate"}],
            },
        },
    }


@dataclass(frozen=True)
class InvalidCase:
    id: str
    mutate: Callable[[Manifest], None]
    field: str  # the field path the API server's message must name
    words: str = ""  # and, where it helps, a word of the reason

    def manifest(self) -> Manifest:
        manifest = valid_manifest(name=self.id)
        self.mutate(manifest)
        return manifest


def _spec(manifest: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]
    return spec


def _steps(manifest: Manifest) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _spec(manifest)["strategy"]["canary"]["steps"]
    return steps


def _metric(manifest: Manifest) -> dict[str, Any]:
    metric: dict[str, Any] = _spec(manifest)["analysis"]["metrics"][0]
    return metric


def _container(manifest: Manifest) -> dict[str, Any]:
    container: dict[str, Any] = _spec(manifest)["template"]["spec"]["containers"][0]
    return container


def _pod_meta(manifest: Manifest) -> dict[str, Any]:
    meta: dict[str, Any] = _spec(manifest)["template"].setdefault("metadata", {})
    return meta


def _prometheus(**fields: Any) -> Callable[[Manifest], None]:
    return lambda m: _spec(m)["analysis"]["prometheus"].update(fields)


def _set(getter: Callable[[Manifest], dict[str, Any]], key: str, value: Any) -> Callable[
    [Manifest], None
]:
    def mutate(manifest: Manifest) -> None:
        getter(manifest)[key] = copy.deepcopy(value)

    return mutate


def _drop(key: str) -> Callable[[Manifest], None]:
    return lambda m: _spec(m).pop(key)


def _step(index: int, step: dict[str, Any]) -> Callable[[Manifest], None]:
    def mutate(manifest: Manifest) -> None:
        _steps(manifest)[index] = step

    return mutate


def _metrics(*metrics: dict[str, Any]) -> Callable[[Manifest], None]:
    def mutate(manifest: Manifest) -> None:
        _spec(manifest)["analysis"]["metrics"] = [copy.deepcopy(m) for m in metrics]

    return mutate


def _both(*mutations: Callable[[Manifest], None]) -> Callable[[Manifest], None]:
    def mutate(manifest: Manifest) -> None:
        for mutation in mutations:
            mutation(manifest)

    return mutate


def _policy(name: str, **values: Any) -> Callable[[Manifest], None]:
    return lambda m: _spec(m)["analysis"].update({name: values})


_ROUTER = {"builtin": {}, "istio": {"virtualService": "vs"}}
_ISTIO = {"istio": {"virtualService": "vs"}}
_CUSTOM = {"name": "custom", "direction": "LowerIsBetter",
           "query": {"numerator": 'e{v="{{variant}}"}', "denominator": 'r{v="{{variant}}"}'}}
_CHAOS = {"chaos": {"fractionBasisPoints": 500, "errorStatus": 500, "durationSeconds": 30}}
_PREDICTION = {"builtin": {"prediction": {"path": "predictions[0].label"}}}
_SEGMENTS = {"builtin": {"unit": {"header": "x-user-id"}, "overrides": {"segments": [
    {"name": "beta", "variant": "candidate", "units": ["u1", "u2"]}]}}}
_LONG = "m" * 70
_JUDGED_MIRROR = {"mirror": {"percent": 50, "analysis": {"durationSeconds": 60}}}
_BLUE_GREEN = {"blueGreen": {"prePromotionAnalysis": {"durationSeconds": 60}}}

_DELAYED_LABELS = _both(_set(_spec, "trafficRouting", _PREDICTION), _metrics(
    {"name": "errors", "template": "errorRate"},
    {"name": "accuracy", "template": "feedbackAccuracy", "labelDelaySeconds": 3600}))

CASES = [
    InvalidCase("analysis-step-shorter-than-label-delay", _DELAYED_LABELS,
                "spec.strategy.canary.steps", "labelDelaySeconds"),
    InvalidCase("judged-mirror-shorter-than-label-delay",
                _both(_DELAYED_LABELS, _step(1, _JUDGED_MIRROR)),
                "spec.strategy.canary.steps", "labelDelaySeconds"),
    InvalidCase("preview-shorter-than-label-delay",
                _both(_DELAYED_LABELS, _set(_spec, "strategy", _BLUE_GREEN)),
                "spec.strategy.blueGreen.prePromotionAnalysis.durationSeconds",
                "labelDelaySeconds"),
    InvalidCase("label-delay-on-error-rate", _metrics(
        {"name": "errors", "template": "errorRate", "labelDelaySeconds": 60}),
        "spec.analysis.metrics[0].labelDelaySeconds", "feedbackAccuracy"),
    InvalidCase("label-delay-over-30-days", _both(
        _set(_spec, "trafficRouting", _PREDICTION), _metrics(
            {"name": "accuracy", "template": "feedbackAccuracy", "labelDelaySeconds": 9_999_999})),
        "spec.analysis.metrics[0].labelDelaySeconds"),
    InvalidCase("replicas-string", _set(_spec, "replicas", "three"), "spec.replicas", "integer"),
    InvalidCase("replicas-too-many", _set(_spec, "replicas", 5000), "spec.replicas"),
    InvalidCase("weight-over-100", _step(0, {"setWeight": 150}),
                "spec.strategy.canary.steps[0].setWeight", "100"),
    InvalidCase("weight-negative", _step(0, {"setWeight": -5}),
                "spec.strategy.canary.steps[0].setWeight"),
    InvalidCase("weight-float", _step(0, {"setWeight": 12.5}),
                "spec.strategy.canary.steps[0].setWeight", "integer"),
    InvalidCase("two-strategies",
                _set(_spec, "strategy", {"canary": {"steps": [{"setWeight": 5}]},
                                         "blueGreen": {}}),
                "spec.strategy", "exactly one"),
    InvalidCase("no-strategy", _set(_spec, "strategy", {}), "spec.strategy", "exactly one"),
    InvalidCase("no-template", _drop("template"), "spec.template", "Required"),
    InvalidCase("no-containers", _set(_spec, "template", {"spec": {"containers": []}}),
                "spec.template.spec.containers"),
    InvalidCase("container-without-image", lambda m: _container(m).pop("image"),
                "spec.template.spec.containers[0].image", "Required"),
    InvalidCase("unknown-router", _set(_spec, "trafficRouting", {"nginx": {}}),
                "spec.trafficRouting"),
    InvalidCase("two-routers", _set(_spec, "trafficRouting", _ROUTER),
                "spec.trafficRouting", "exactly one"),
    InvalidCase("negative-pause", _step(0, {"pause": {"durationSeconds": -10}}),
                "spec.strategy.canary.steps[0].pause.durationSeconds"),
    InvalidCase("mirror-zero", _step(0, {"mirror": {"percent": 0}}),
                "spec.strategy.canary.steps[0].mirror.percent"),
    InvalidCase("mirror-over-100", _step(0, {"mirror": {"percent": 101}}),
                "spec.strategy.canary.steps[0].mirror.percent"),
    InvalidCase("step-two-kinds", _step(0, {"setWeight": 5, "pause": {}}),
                "spec.strategy.canary.steps[0]", "exactly one"),
    InvalidCase("step-empty", _step(0, {}), "spec.strategy.canary.steps[0]", "exactly one"),
    InvalidCase("too-many-steps",
                lambda m: _steps(m).extend({"setWeight": 10} for _ in range(60)),
                "spec.strategy.canary.steps", "50"),
    InvalidCase("metric-name-too-long", _set(_metric, "name", _LONG),
                "spec.analysis.metrics[0].name"),
    InvalidCase("port-zero", _set(_spec, "port", 0), "spec.port"),
    InvalidCase("port-too-high", _set(_spec, "port", 70000), "spec.port"),
    InvalidCase("analysis-step-without-analysis", _drop("analysis"), "spec.analysis"),
    InvalidCase("analysis-step-without-length", _step(1, {"analysis": {}}),
                "spec.strategy.canary.steps[1].analysis", "durationSeconds"),
    InvalidCase("metric-template-and-query",
                _set(_metric, "query", {"value": 'x{v="{{variant}}"}'}),
                "spec.analysis.metrics[0]", "exactly one"),
    InvalidCase("latency-without-threshold", _set(_metric, "template", "latencyOver"),
                "spec.analysis.metrics[0].thresholdMilliseconds"),
    InvalidCase("goal-on-a-guardrail", _set(_metric, "goal", "Improve"),
                "spec.analysis.metrics[0].goal", "Success"),
    InvalidCase("query-without-placeholder",
                lambda m: _spec(m)["analysis"]["metrics"].append(
                    {"name": "custom", "direction": "LowerIsBetter",
                     "query": {"value": "sum(rate(errors_total[1m]))"}}),
                "spec.analysis.metrics[1].query", "{{variant}}"),
    InvalidCase("duplicate-metric-names",
                lambda m: _spec(m)["analysis"]["metrics"].append(
                    {"name": "errors", "template": "errorRate"}),
                "spec.analysis.metrics[1]", "Duplicate"),
    InvalidCase("unknown-metric-template", _set(_metric, "template", "accuracyMagic"),
                "spec.analysis.metrics[0].template", "Unsupported value"),
    InvalidCase("prometheus-not-a-url",
                lambda m: _spec(m)["analysis"]["prometheus"].update(address="prometheus:9090"),
                "spec.analysis.prometheus.address"),
    InvalidCase("shadow-named-stable",
                _set(_spec, "shadows", [{"name": "stable", "mirrorPercent": 10, "template": {
                    "spec": {"containers": [{"name": "s", "image": "model:2"}]}}}]),
                "spec.shadows[0].name", "reserved"),
    InvalidCase("unit-header-and-cookie",
                _set(_spec, "trafficRouting",
                     {"builtin": {"unit": {"header": "x-user", "cookie": "uid"}}}),
                "spec.trafficRouting.builtin.unit", "exactly one"),
    InvalidCase("unit-header-with-space",
                _set(_spec, "trafficRouting", {"builtin": {"unit": {"header": "x user"}}}),
                "spec.trafficRouting.builtin.unit.header"),
    InvalidCase("deadline-too-short", _set(_spec, "progressDeadlineSeconds", 5),
                "spec.progressDeadlineSeconds"),
    InvalidCase("significance-zero",
                lambda m: _spec(m)["analysis"].update(significanceBasisPoints=0),
                "spec.analysis.significanceBasisPoints"),
    InvalidCase("unknown-spec-field", _set(_spec, "canaryWeight", 10), "spec.canaryWeight",
                "unknown field"),
    InvalidCase("segment-for-unknown-variant",
                _set(_spec, "trafficRouting", {"builtin": {"overrides": {"segments": [
                    {"name": "beta", "variant": "nobody", "units": ["u1"]}]}}}),
                "spec.trafficRouting.builtin.overrides.segments", "shadow"),
    InvalidCase("name-too-long", lambda m: m["metadata"].update(name="n" * 41),
                "metadata.name", "40"),
    InvalidCase("chaos-without-effect",
                _step(0, {"chaos": {"fractionBasisPoints": 500, "durationSeconds": 30}}),
                "spec.strategy.canary.steps[0].chaos", "errorStatus"),
    InvalidCase("router-cpu-float",
                _set(_spec, "trafficRouting", {"builtin": {"resources": {
                    "requests": {"cpu": 0.5}}}}),
                "spec.trafficRouting.builtin.resources.requests.cpu", "string"),
    InvalidCase("router-memory-not-a-quantity",
                _set(_spec, "trafficRouting", {"builtin": {"resources": {
                    "limits": {"memory": "lots"}}}}),
                "spec.trafficRouting.builtin.resources.limits.memory"),
    InvalidCase("router-memory-request-above-limit",
                _set(_spec, "trafficRouting", {"builtin": {"resources": {
                    "requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}}}}),
                "spec.trafficRouting.builtin.resources.requests.memory", "exceed"),
    # Nothing unjudgeable is admitted (docs/analysis.md, "Refused at admission").
    InvalidCase("feedback-accuracy-without-prediction",
                _metrics({"name": "accuracy", "template": "feedbackAccuracy"}),
                "spec.trafficRouting.builtin.prediction", "feedbackAccuracy"),
    InvalidCase("shadow-agreement-without-prediction",
                _metrics({"name": "agreement", "template": "shadowAgreement"}),
                "spec.trafficRouting.builtin.prediction", "shadowAgreement"),
    InvalidCase("templates-without-the-builtin-router", _set(_spec, "trafficRouting", _ISTIO),
                "spec.trafficRouting", "use custom queries"),
    InvalidCase("chaos-without-the-builtin-router",
                _both(_set(_spec, "trafficRouting", _ISTIO), _metrics(_CUSTOM), _step(1, _CHAOS)),
                "spec.trafficRouting", "chaos steps inject faults in the builtin router"),
    InvalidCase("chaos-without-analysis", _both(_drop("analysis"), _step(1, _CHAOS)),
                "spec.analysis", "chaos steps prove that the analysis catches a fault"),
    InvalidCase("chaos-segment-unknown",
                _step(1, {"chaos": {**_CHAOS["chaos"], "segment": "beta"}}),
                "spec.strategy.canary.steps", "must name a segment"),
    InvalidCase("chaos-two-selectors",
                _step(1, {"chaos": {**_CHAOS["chaos"], "header": {"name": "x-cohort",
                                                                  "value": "eu"},
                                    "hashedFractionBasisPoints": 1000}}),
                "spec.strategy.canary.steps[1].chaos", "at most one"),
    InvalidCase("corrupt-prediction-without-prediction",
                _step(1, {"chaos": {"fractionBasisPoints": 500, "corruptPrediction": True}}),
                "spec.trafficRouting.builtin.prediction", "corruptPrediction"),
    InvalidCase("latency-threshold-off-the-bucket-grid",
                _metrics({"name": "slow", "template": "latencyOver",
                          "thresholdMilliseconds": 300}),
                "spec.analysis.metrics[0].thresholdMilliseconds", "bucket boundary"),
    InvalidCase("minimum-effect-within-tolerance",
                _metrics({"name": "errors", "template": "errorRate", "toleranceBasisPoints": 50,
                          "minimumEffectBasisPoints": 50}),
                "spec.analysis.metrics[0].minimumEffectBasisPoints", "must exceed"),
    InvalidCase("relative-and-absolute-tolerance",
                _metrics({"name": "errors", "template": "errorRate", "toleranceBasisPoints": 50,
                          "relativeToleranceBasisPoints": 1000}),
                "spec.analysis.metrics[0].relativeToleranceBasisPoints", "not both"),
    InvalidCase("quantile-without-latency-quantile",
                _metrics({"name": "errors", "template": "errorRate", "quantile": 99}),
                "spec.analysis.metrics[0].quantile", "latencyQuantile"),
    InvalidCase("latency-quantile-without-quantile",
                _metrics({"name": "p99", "template": "latencyQuantile"}),
                "spec.analysis.metrics[0].quantile", "latencyQuantile"),
    InvalidCase("latency-quantile-with-absolute-tolerance",
                _metrics({"name": "p99", "template": "latencyQuantile", "quantile": 99,
                          "toleranceBasisPoints": 50}),
                "spec.analysis.metrics[0].toleranceBasisPoints", "relativeToleranceBasisPoints"),
    InvalidCase("relative-minimum-effect-within-tolerance",
                _metrics({"name": "p99", "template": "latencyQuantile", "quantile": 99,
                          "relativeToleranceBasisPoints": 1000,
                          "minimumEffectBasisPoints": 500}),
                "spec.analysis.metrics[0].minimumEffectBasisPoints", "must exceed"),
    InvalidCase("latency-higher-is-better",
                _metrics({"name": "shift", "template": "latencyShift",
                          "direction": "HigherIsBetter"}),
                "spec.analysis.metrics[0].direction", "LowerIsBetter"),
    InvalidCase("on-inconclusive-without-duration",
                _step(1, {"analysis": {"minSamples": 500, "onInconclusive": "Promote"}}),
                "spec.strategy.canary.steps[1].analysis.onInconclusive", "durationSeconds"),
    InvalidCase("on-inconclusive-unknown",
                lambda m: _spec(m)["analysis"].update(onInconclusive="Shrug"),
                "spec.analysis.onInconclusive", "Unsupported value"),
    InvalidCase("missing-data-deadline-too-short", _policy("onMissingData", deadlineSeconds=5),
                "spec.analysis.onMissingData.deadlineSeconds"),
    InvalidCase("provider-error-deadline-too-long",
                _policy("onProviderError", deadlineSeconds=100_000),
                "spec.analysis.onProviderError.deadlineSeconds"),
    # Issue 15: names and labels that can become objects.
    InvalidCase("name-with-a-dot", lambda m: m["metadata"].update(name="model.v2"),
                "metadata.name"),
    InvalidCase("name-upper-case", lambda m: m["metadata"].update(name="Model"),
                "metadata.name"),
    InvalidCase("image-with-trailing-newline", _set(_container, "image", "model:1\n"),
                "spec.template.spec.containers[0].image"),
    InvalidCase("image-with-a-space", _set(_container, "image", "model :1"),
                "spec.template.spec.containers[0].image"),
    InvalidCase("label-key-too-long", _set(_pod_meta, "labels", {"k" * 10_000: "v"}),
                "spec.template.metadata.labels", "label keys"),
    InvalidCase("label-key-with-a-space", _set(_pod_meta, "labels", {"my app": "v"}),
                "spec.template.metadata.labels", "label keys"),
    InvalidCase("label-value-with-spaces", _set(_pod_meta, "labels", {"app": "my model"}),
                "spec.template.metadata.labels.app"),
    InvalidCase("annotation-key-invalid", _set(_pod_meta, "annotations", {"a/b/c": "x"}),
                "spec.template.metadata.annotations", "label keys"),
    InvalidCase("duplicate-container-names",
                lambda m: _spec(m)["template"]["spec"]["containers"].append(
                    {"name": "server", "image": "model:2"}),
                "spec.template.spec.containers[1]", "Duplicate"),
    # Issue 15: runtime rules at admission.
    InvalidCase("prediction-path-unparseable",
                _set(_spec, "trafficRouting", {"builtin": {"prediction": {
                    "path": "predictions[0"}}}),
                "spec.trafficRouting.builtin.prediction.path"),
    InvalidCase("shadow-agreement-lower-is-better",
                _both(_set(_spec, "trafficRouting", _PREDICTION), _metrics(
                    {"name": "agreement", "template": "shadowAgreement",
                     "direction": "LowerIsBetter"})),
                "spec.analysis.metrics[0].direction", "HigherIsBetter"),
    InvalidCase("latency-over-higher-is-better",
                _metrics({"name": "slow", "template": "latencyOver", "thresholdMilliseconds": 250,
                          "direction": "HigherIsBetter"}),
                "spec.analysis.metrics[0].direction", "LowerIsBetter"),
    InvalidCase("minimum-effect-below-tolerance",
                _metrics({"name": "errors", "template": "errorRate", "toleranceBasisPoints": 80,
                          "minimumEffectBasisPoints": 20}),
                "spec.analysis.metrics[0].minimumEffectBasisPoints", "must exceed"),
    InvalidCase("latency-threshold-between-buckets",
                _metrics({"name": "slow", "template": "latencyOver",
                          "thresholdMilliseconds": 251}),
                "spec.analysis.metrics[0].thresholdMilliseconds", "bucket boundary"),
    InvalidCase("chaos-with-gateway-api",
                _both(_set(_spec, "trafficRouting", {"gatewayAPI": {"httpRoute": "r"}}),
                      _metrics(_CUSTOM), _step(1, _CHAOS)),
                "spec.trafficRouting", "chaos steps inject faults in the builtin router"),
    # Issue 15: Prometheus addresses and TLS.
    InvalidCase("prometheus-address-control-character",
                _prometheus(address="http://prometheus:9090/\u0007"),
                "spec.analysis.prometheus.address"),
    InvalidCase("prometheus-address-crlf",
                _prometheus(address="http://prometheus:9090\r\nX-Injected: 1"),
                "spec.analysis.prometheus.address"),
    InvalidCase("insecure-skip-verify-on-http", _prometheus(insecureSkipVerify=True),
                "spec.analysis.prometheus.address", "https"),
    InvalidCase("ca-bundle-and-insecure-skip-verify",
                _prometheus(address="https://prometheus:9090", insecureSkipVerify=True,
                            caBundle={"configMapKeyRef": {"name": "ca", "key": "ca.crt"}}),
                "spec.analysis.prometheus.insecureSkipVerify", "not both"),
    InvalidCase("ca-bundle-without-key",
                _prometheus(address="https://prometheus:9090",
                            caBundle={"configMapKeyRef": {"name": "ca"}}),
                "spec.analysis.prometheus.caBundle.configMapKeyRef.key", "Required"),
    InvalidCase("judged-mirror-with-its-own-duration",
                _step(1, {"mirror": {**_JUDGED_MIRROR["mirror"], "durationSeconds": 60}}),
                "spec.strategy.canary.steps[1].mirror.durationSeconds", "analysis.durationSeconds"),
    InvalidCase("judged-mirror-without-analysis", _both(_drop("analysis"),
                                                        _step(1, _JUDGED_MIRROR)),
                "spec.analysis", "mirror step's analysis"),
    InvalidCase("blue-green-preview-judged-without-mirror", _set(_spec, "strategy", {
        "blueGreen": {**_BLUE_GREEN["blueGreen"], "previewMirrorPercent": 0}}),
                "spec.strategy.blueGreen.previewMirrorPercent", "mirrored"),
    InvalidCase("shadow-name-too-long",
                _set(_spec, "shadows", [{"name": "s" * 16, "mirrorPercent": 10, "template": {
                    "spec": {"containers": [{"name": "s", "image": "model:2"}]}}}]),
                "spec.shadows[0].name"),
]


@dataclass(frozen=True)
class ValidCase:
    """The valid counterpart of a rule: what the rule must let through."""

    id: str
    mutate: Callable[[Manifest], None]

    def manifest(self) -> Manifest:
        manifest = valid_manifest(name=self.id)
        self.mutate(manifest)
        return manifest


VALID_CASES = [
    ValidCase("every-common-container-field", lambda m: _spec(m).update(template={
        "metadata": {"labels": {"app.kubernetes.io/name": "fraud"},
                     "annotations": {"example.com/owner": "team ml, on call"}},
        "spec": copy.deepcopy(FULL_POD_SPEC)})),
    ValidCase("prometheus-https-with-ca-bundle", _prometheus(
        address="https://prometheus.monitoring:9090",
        caBundle={"configMapKeyRef": {"name": "prometheus-ca", "key": "ca.crt"}})),
    ValidCase("prometheus-https-insecure", _prometheus(
        address="https://prometheus.monitoring:9090", insecureSkipVerify=True)),
    ValidCase("judged-mirror-step", _step(1, _JUDGED_MIRROR)),
    ValidCase("blue-green-preview-judged", _set(_spec, "strategy", _BLUE_GREEN)),
    ValidCase("feedback-accuracy-with-prediction", _both(
        _set(_spec, "trafficRouting", _PREDICTION),
        _step(1, {"analysis": {"durationSeconds": 3600}}),
        _metrics({"name": "accuracy", "template": "feedbackAccuracy", "role": "Success",
                  "labelDelaySeconds": 3600}))),
    ValidCase("label-delay-with-a-samples-only-step", _both(
        _DELAYED_LABELS, _step(1, {"analysis": {"minSamples": 500}}))),
    ValidCase("label-delay-within-every-timed-step", _both(
        _DELAYED_LABELS, _step(1, {"analysis": {"durationSeconds": 7200}}),
        lambda m: _steps(m).append({"mirror": {"percent": 10, "analysis": {
            "durationSeconds": 3600}}}))),
    ValidCase("custom-queries-with-istio",
              _both(_set(_spec, "trafficRouting", _ISTIO), _metrics(_CUSTOM))),
    ValidCase("chaos-with-builtin-and-analysis", _step(1, _CHAOS)),
    ValidCase("chaos-on-a-segment", _both(
        _set(_spec, "trafficRouting", _SEGMENTS),
        _step(1, {"chaos": {**_CHAOS["chaos"], "segment": "beta"}}))),
    ValidCase("corrupt-prediction-with-prediction", _both(
        _set(_spec, "trafficRouting", _PREDICTION),
        _step(1, {"chaos": {"fractionBasisPoints": 500, "corruptPrediction": True}}))),
    ValidCase("latency-threshold-on-the-grid", _metrics(
        {"name": "slow", "template": "latencyOver", "thresholdMilliseconds": 250})),
    ValidCase("relative-tolerance-and-latency-quantile", _metrics(
        {"name": "errors", "template": "errorRate", "relativeToleranceBasisPoints": 1000,
         "minimumEffectBasisPoints": 2000},
        {"name": "p99", "template": "latencyQuantile", "quantile": 99,
         "relativeToleranceBasisPoints": 2000})),
    ValidCase("on-inconclusive-and-deadlines", _both(
        _step(1, {"analysis": {"durationSeconds": 60, "minSamples": 500,
                               "onInconclusive": "Rollback"}}),
        lambda m: _spec(m)["analysis"].update(
            onInconclusive="Promote", onMissingData={"action": "Rollback", "deadlineSeconds": 300},
            onProviderError={"deadlineSeconds": 900}))),
]
