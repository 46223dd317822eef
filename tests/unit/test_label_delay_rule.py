"""A timed analysis step shorter than a feedbackAccuracy metric's labelDelaySeconds: in the
CRD as CEL, and refused by the operator's models naming both fields (an object admitted
before the rule becomes InvalidSpec, never a step passed without its labels)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from controller.api.crd import spec_schema
from controller.api.label_delay import BLUE_GREEN_RULE, CANARY_RULE
from controller.api.spec import ModelRolloutSpec
from controller.rollout.failures import describe_validation_error, invalid_spec_status
from tests.invalid_manifests import CASES
from tests.valid_manifests import VALID_CASES, ValidCase

pytestmark = pytest.mark.unit

LABEL_CASES = [c for c in CASES if c.words == "labelDelaySeconds"]
LABEL_VALID = [c for c in VALID_CASES if "label-delay" in c.id
               or c.id == "feedback-accuracy-with-prediction"]


def test_the_rules_are_in_the_generated_schema() -> None:
    rules = {v["rule"]: v for v in spec_schema()["x-kubernetes-validations"]}
    assert rules[CANARY_RULE]["fieldPath"] == ".strategy.canary.steps"
    assert rules[BLUE_GREEN_RULE]["fieldPath"] == (
        ".strategy.blueGreen.prePromotionAnalysis.durationSeconds")
    assert "labelDelaySeconds" in rules[CANARY_RULE]["message"]


@pytest.mark.parametrize(("case", "field"), [
    ("analysis-step-shorter-than-label-delay", "spec.strategy.canary.steps[1].analysis"),
    ("judged-mirror-shorter-than-label-delay", "spec.strategy.canary.steps[1].mirror.analysis"),
    ("preview-shorter-than-label-delay", "spec.strategy.blueGreen.prePromotionAnalysis"),
])
def test_the_operator_refuses_a_step_shorter_than_its_labels(case: str, field: str) -> None:
    [invalid] = [c for c in LABEL_CASES if c.id == case]
    with pytest.raises(ValidationError) as raised:
        ModelRolloutSpec.model_validate(invalid.manifest()["spec"])
    message = describe_validation_error(raised.value)
    assert (f"{field}.durationSeconds (60) is shorter than "
            "spec.analysis.metrics[1].labelDelaySeconds (3600)") in message, message
    # surfaced within the reconcile that reads it, as a condition naming the fields
    status, event = invalid_spec_status({}, raised.value, 3, datetime(2026, 1, 1, tzinfo=UTC))
    [degraded] = [c for c in status.conditions if c.type == "Degraded"]
    assert degraded.reason == "InvalidSpec"
    assert f"{field}.durationSeconds" in degraded.message
    assert event.reason == "InvalidSpec"


def test_every_label_delay_case_is_listed() -> None:
    assert len(LABEL_CASES) == 3
    assert len(LABEL_VALID) == 3


@pytest.mark.parametrize("case", LABEL_VALID, ids=lambda c: c.id)
def test_steps_that_outlast_their_labels_or_are_untimed_are_accepted(case: ValidCase) -> None:
    ModelRolloutSpec.model_validate(case.manifest()["spec"])
