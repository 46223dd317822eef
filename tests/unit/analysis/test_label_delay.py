"""labelDelaySeconds: feedbackAccuracy waits for labels to mature; coverage in the status."""

from __future__ import annotations

import pytest

from controller.analysis.provider import Counts
from tests.doubles import FakeProvider
from tests.unit.analysis.looks import ERRORS, look, spec, status

pytestmark = pytest.mark.unit

ACCURACY = {"name": "accuracy", "template": "feedbackAccuracy", "role": "Success",
            "toleranceBasisPoints": 100, "labelDelaySeconds": 600}
CLEAN = {("errors", "stable"): Counts(0, 80_000), ("errors", "candidate"): Counts(0, 20_000),
         ("traffic", "stable"): Counts(0, 80_000), ("traffic", "candidate"): Counts(0, 20_000),
         ("accuracy", "stable"): Counts(72_000, 80_000),
         ("accuracy", "candidate"): Counts(18_000, 20_000),
         ("label coverage", "stable"): Counts(80_000, 100_000),
         ("label coverage", "candidate"): Counts(20_000, 25_000)}


def test_nothing_passes_while_labels_mature() -> None:
    fake = FakeProvider(CLEAN)
    early = look(fake, spec([ERRORS, ACCURACY]), status(), seconds=300)
    assert early.verdict != "Pass"
    assert "accuracy: labels maturing (labelDelaySeconds 600, the step is 300s old)" in (
        early.reason)
    assert early.status is not None
    assert [m.name for m in early.status.metrics] == ["errors"]
    assert {name for name, _, _ in fake.calls} == {"errors", "traffic"}  # accuracy not asked


def test_mature_labels_are_judged_with_their_coverage() -> None:
    outcome = look(FakeProvider(CLEAN), spec([ERRORS, ACCURACY]), status(), seconds=900)
    assert outcome.verdict == "Pass"
    assert outcome.status is not None
    accuracy = outcome.status.metrics[1]
    assert accuracy.label_coverage is not None
    assert accuracy.label_coverage.labels.candidate == 20_000
    assert accuracy.label_coverage.predictions.candidate == 25_000
    assert outcome.status.metrics[0].label_coverage is None


def test_only_labels_alone_maturing_is_inconclusive() -> None:
    outcome = look(FakeProvider(CLEAN), spec([ACCURACY]), status(), seconds=60)
    assert outcome.verdict == "Inconclusive"
    assert "labels maturing" in outcome.reason
