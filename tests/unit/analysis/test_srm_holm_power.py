"""SRM, Holm and sample sizes against public values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from controller.analysis import power
from controller.analysis.multiple import holm_adjust, holm_reject
from controller.analysis.srm import srm_check

pytestmark = pytest.mark.unit


def test_srm_public_value() -> None:
    res = srm_check([10100, 9990], [50, 50])
    assert res.statistic == pytest.approx(0.60229, rel=1e-5)
    assert res.p_value == pytest.approx(0.4377, rel=1e-4)
    assert not res.mismatch
    assert res.expected == (10045.0, 10045.0)


def test_srm_weights_in_basis_points_and_three_variants() -> None:
    res = srm_check([9000, 500, 500], [9000, 500, 500])
    assert res.p_value == pytest.approx(1.0)
    skewed = srm_check([9000, 700, 300], [9000, 500, 500])
    assert skewed.mismatch
    assert skewed.df == 2.0
    ref = sps.chisquare([9000, 700, 300], [9000, 500, 500])
    assert skewed.statistic == pytest.approx(ref.statistic)


def test_srm_default_threshold_is_one_in_a_thousand() -> None:
    # X^2 = 11 has p ~ 0.00091 (< 0.001); X^2 = 10 has p ~ 0.00157.
    assert srm_check([0, 0], [1, 1]).threshold == 0.001
    assert sps.chi2.sf(11, 1) < 0.001 < sps.chi2.sf(10, 1)


def test_srm_zero_weight_with_traffic_is_a_mismatch() -> None:
    assert srm_check([100, 3], [100, 0]).mismatch
    assert not srm_check([100, 0], [100, 0]).mismatch
    assert srm_check([0, 0], [95, 5]).p_value == 1.0


@pytest.mark.parametrize(
    ("observed", "weights", "name"),
    [([1], [1], "same length"), ([1, 2], [1.5, 2], "weights"), ([1, 2], [0, 0], "weights"),
     ([-1, 2], [1, 1], "observed")],
)
def test_srm_invalid(observed: list[int], weights: list[int], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        srm_check(observed, weights)


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 10_000)), min_size=2,
                max_size=5))
def test_srm_properties(rows: list[tuple[int, int]]) -> None:
    observed, weights = [r[0] for r in rows], [r[1] for r in rows]
    res = srm_check(observed, weights)
    flipped = srm_check(observed[::-1], weights[::-1])
    assert 0.0 <= res.p_value <= 1.0
    assert flipped.p_value == pytest.approx(res.p_value, rel=1e-9, abs=1e-300)


def test_holm_matches_r_p_adjust() -> None:
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.02, 0.05), "holm") = 0.05 0.09 0.09 0.08 0.09
    assert holm_adjust([0.01, 0.04, 0.03, 0.02, 0.05]) == pytest.approx(
        (0.05, 0.09, 0.09, 0.08, 0.09))
    assert holm_reject([0.01, 0.04, 0.03, 0.02, 0.05], 0.05) == (True, False, False, False,
                                                               False)
    assert holm_adjust([]) == ()


def test_holm_invalid() -> None:
    with pytest.raises(ValueError, match=r"p_values\[1\]"):
        holm_adjust([0.1, 1.2])
    with pytest.raises(ValueError, match="alpha"):
        holm_reject([0.1], 0)


@settings(deadline=None, max_examples=80)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=10), st.randoms())
def test_holm_properties(p_values: list[float], rnd: object) -> None:
    adjusted = holm_adjust(p_values)
    assert all(p <= a <= 1 for p, a in zip(p_values, adjusted, strict=True))
    order = list(range(len(p_values)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    shuffled = holm_adjust([p_values[i] for i in order])
    assert shuffled == tuple(adjusted[i] for i in order)


def test_evan_miller_public_value() -> None:
    assert power.sample_size_two_proportions(0.20, 0.05) == pytest.approx(1030.22, abs=0.005)


def test_unequal_allocation_needs_fewer_candidate_samples() -> None:
    equal = power.sample_size_two_proportions(0.01, 0.01)
    canary = power.sample_size_two_proportions(0.01, 0.01, ratio=19)  # 5 % canary
    assert canary < equal


def test_power_t_test_r_docs_example() -> None:
    # R ?power.t.test: power.t.test(power = .90, delta = 1) gives n = 22.02110.
    assert power.sample_size_means(1.0, 1.0, power=0.9) == pytest.approx(22.02110, rel=1e-6)


def test_more_samples_needed() -> None:
    assert power.more_samples_needed(1000, 1030.22) == 31.0
    assert power.more_samples_needed(2000, 1030.22) == 0.0
    assert power.more_samples_for_proportions(0.2, 0.05, 1000) == 31.0
    assert power.more_samples_for_means(1.0, 1.0, 20, power=0.9) == 3.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"p_baseline": 0.0}, "p_baseline"), ({"delta": 0.9}, "delta"), ({"alpha": 1.0}, "alpha"),
     ({"power": 0.0}, "power"), ({"ratio": 0.0}, "ratio")],
)
def test_sample_size_invalid(kwargs: dict[str, float], name: str) -> None:
    args = {"p_baseline": 0.2, "delta": 0.05} | kwargs
    p_baseline, delta = args.pop("p_baseline"), args.pop("delta")
    with pytest.raises(ValueError, match=name):
        power.sample_size_two_proportions(p_baseline, delta, **args)


@settings(deadline=None, max_examples=40)
@given(st.floats(0.01, 0.5), st.floats(0.005, 0.2), st.floats(0.005, 0.2))
def test_sample_size_shrinks_with_effect(p: float, d1: float, d2: float) -> None:
    small, large = sorted((d1, d2))
    if large - small < 1e-6:
        return
    assert (power.sample_size_two_proportions(p, large)
            <= power.sample_size_two_proportions(p, small))
