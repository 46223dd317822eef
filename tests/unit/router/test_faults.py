"""Fault-injection decisions: off by default, rate matches the fraction (pure)."""

from __future__ import annotations

import random

import pytest
from scipy.stats import binomtest

from controller.contract.table import FaultSpec
from controller.router.faults import action_for, choose_fault

pytestmark = pytest.mark.unit


def test_off_unless_asked() -> None:
    assert action_for(FaultSpec()) is None
    assert action_for(FaultSpec(fraction_bp=5000)) is None  # a fraction with no effect
    assert action_for(FaultSpec(added_latency_ms=100)) is None  # an effect with no fraction


def test_action_kinds() -> None:
    action = action_for(FaultSpec(fraction_bp=1, added_latency_ms=250, error_status=503,
                                  corrupt_prediction=True))
    assert action is not None
    assert action.delay_s == 0.25
    assert action.kinds() == ["delay", "error", "corrupt"]


@pytest.mark.parametrize("fraction_bp", [0, 150, 2500, 10_000])
def test_rate_matches_fraction(fraction_bp: int) -> None:
    action = action_for(FaultSpec(fraction_bp=max(fraction_bp, 1), error_status=500))
    rng = random.Random(11)
    n = 20_000
    hits = sum(choose_fault(action, fraction_bp, int(rng.random() * 10_000)) is not None
               for _ in range(n))
    if fraction_bp in (0, 10_000):
        assert hits == n * fraction_bp // 10_000
    else:
        assert binomtest(hits, n, fraction_bp / 10_000).pvalue > 0.001
