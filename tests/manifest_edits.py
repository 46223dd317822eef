"""Valid ModelRollout manifests and the edits that make variants of them: the builders shared
by the admission cases (invalid_manifests.py, valid_manifests.py) and the tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

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


def edited_manifest(name: str, edit: Callable[[Manifest], None]) -> Manifest:
    """The valid manifest named `name`, changed by `edit`."""
    manifest = valid_manifest(name=name)
    edit(manifest)
    return manifest


def spec_of(manifest: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]
    return spec


def steps_of(manifest: Manifest) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = spec_of(manifest)["strategy"]["canary"]["steps"]
    return steps


def first_metric(manifest: Manifest) -> dict[str, Any]:
    metric: dict[str, Any] = spec_of(manifest)["analysis"]["metrics"][0]
    return metric


def first_container(manifest: Manifest) -> dict[str, Any]:
    container: dict[str, Any] = spec_of(manifest)["template"]["spec"]["containers"][0]
    return container


def pod_metadata(manifest: Manifest) -> dict[str, Any]:
    meta: dict[str, Any] = spec_of(manifest)["template"].setdefault("metadata", {})
    return meta


def set_prometheus(**fields: Any) -> Callable[[Manifest], None]:
    return lambda m: spec_of(m)["analysis"]["prometheus"].update(fields)


def set_field(getter: Callable[[Manifest], dict[str, Any]], key: str, value: Any) -> Callable[
    [Manifest], None
]:
    def mutate(manifest: Manifest) -> None:
        getter(manifest)[key] = copy.deepcopy(value)

    return mutate


def drop_field(key: str) -> Callable[[Manifest], None]:
    return lambda m: spec_of(m).pop(key)


def replace_step(index: int, step: dict[str, Any]) -> Callable[[Manifest], None]:
    def mutate(manifest: Manifest) -> None:
        steps_of(manifest)[index] = step

    return mutate


def set_metrics(*metrics: dict[str, Any]) -> Callable[[Manifest], None]:
    def mutate(manifest: Manifest) -> None:
        spec_of(manifest)["analysis"]["metrics"] = [copy.deepcopy(m) for m in metrics]

    return mutate


def all_of(*mutations: Callable[[Manifest], None]) -> Callable[[Manifest], None]:
    def mutate(manifest: Manifest) -> None:
        for mutation in mutations:
            mutation(manifest)

    return mutate


def set_policy(name: str, **values: Any) -> Callable[[Manifest], None]:
    return lambda m: spec_of(m)["analysis"].update({name: values})


ISTIO = {"istio": {"virtualService": "vs"}}
CUSTOM_METRIC = {"name": "custom", "direction": "LowerIsBetter",
                 "query": {"numerator": 'e{v="{{variant}}"}', "denominator": 'r{v="{{variant}}"}'}}
CHAOS = {"chaos": {"fractionBasisPoints": 500, "errorStatus": 500, "durationSeconds": 30}}
PREDICTION = {"builtin": {"prediction": {"path": "predictions[0].label"}}}
SEGMENTS = {"builtin": {"unit": {"header": "x-user-id"}, "overrides": {"segments": [
    {"name": "beta", "variant": "candidate", "units": ["u1", "u2"]}]}}}
JUDGED_MIRROR = {"mirror": {"percent": 50, "analysis": {"durationSeconds": 60}}}
BLUE_GREEN = {"blueGreen": {"prePromotionAnalysis": {"durationSeconds": 60}}}

DELAYED_LABELS = all_of(set_field(spec_of, "trafficRouting", PREDICTION), set_metrics(
    {"name": "errors", "template": "errorRate"},
    {"name": "accuracy", "template": "feedbackAccuracy", "labelDelaySeconds": 3600}))
