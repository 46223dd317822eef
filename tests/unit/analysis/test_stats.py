"""Classic tests against public values (statistics.md, R and scipy documentation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from controller.analysis import stats
from controller.analysis.types import StatResult

pytestmark = pytest.mark.unit

SLEEP_G1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_G2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
REL = 1e-6


def _summary(values: list[float]) -> tuple[float, float, float]:
    arr = np.asarray(values)
    return float(arr.size), float(arr.mean()), float(arr.var(ddof=1))


def test_two_proportion_z_public_value() -> None:
    res = stats.two_proportion_z(378, 3662, 462, 3568)
    assert res.statistic == pytest.approx(3.4840054896, rel=REL)
    assert res.p_value == pytest.approx(4.939694e-4, rel=REL)
    assert res.ci_low == pytest.approx(0.0114816, abs=5e-8)  # given to 7 decimals
    assert res.ci_high == pytest.approx(0.0410424, abs=5e-8)
    assert (res.n_a, res.n_b) == (3662.0, 3568.0)
    assert isinstance(res.n_a, float)


def test_two_proportion_z_one_sided_halves_p() -> None:
    res = stats.two_proportion_z(378, 3662, 462, 3568, alternative="greater")
    assert res.p_value == pytest.approx(4.939694e-4 / 2, rel=REL)
    less = stats.two_proportion_z(378, 3662, 462, 3568, alternative="less")
    assert less.p_value == pytest.approx(1 - 4.939694e-4 / 2, rel=REL)


def test_two_proportion_z_without_any_success_has_no_evidence() -> None:
    res = stats.two_proportion_z(0, 100, 0, 50)
    assert res.p_value == 1.0
    assert res.estimate == 0.0


def test_welch_t_sleep_data() -> None:
    # R: t.test(extra ~ group, data = sleep) compares group 1 - group 2: B is group 1.
    res = stats.welch_t(*_summary(SLEEP_G2), *_summary(SLEEP_G1))
    assert res.statistic == pytest.approx(-1.860813, rel=REL)
    assert res.df == pytest.approx(17.7765, rel=1e-5)
    assert res.p_value == pytest.approx(0.079394, rel=1e-5)
    assert res.ci_low == pytest.approx(-3.3654832, rel=REL)
    assert res.ci_high == pytest.approx(0.2054832, rel=REL)


def test_summary_from_sums_matches_numpy() -> None:
    values = np.asarray(SLEEP_G1)
    n, mean, var = stats.summary_from_sums(values.size, values.sum(), (values**2).sum())
    assert n == 10.0
    assert mean == pytest.approx(values.mean())
    assert var == pytest.approx(values.var(ddof=1), rel=1e-12)


def test_mcnemar_public_value() -> None:
    res = stats.mcnemar(150, 86, 1600)
    assert res.statistic == pytest.approx(16.8178, rel=1e-5)
    assert res.p_value == pytest.approx(4.1146e-5, rel=1e-4)
    assert res.estimate == pytest.approx((86 - 150) / 1600)


def test_mcnemar_equal_discordance_is_no_evidence() -> None:
    assert stats.mcnemar(20, 20, 100).p_value == 1.0
    assert stats.mcnemar(0, 0, 100).p_value == 1.0


def test_fisher_tea_tasting_r_example() -> None:
    # R ?fisher.test TeaTasting: one-sided p = 0.2429, two-sided p = 0.4857.
    greater = stats.fisher_exact_2x2(1, 4, 3, 4, alternative="greater")
    assert greater.p_value == pytest.approx(0.2428571, rel=1e-6)
    assert stats.fisher_exact_2x2(1, 4, 3, 4).p_value == pytest.approx(0.4857143, rel=1e-6)
    assert greater.statistic == pytest.approx(9.0)  # odds ratio of B vs A


def test_newcombe_interval_published_example() -> None:
    # Newcombe (1998), 56/70 - 48/80, hybrid score method 10: 0.0524 to 0.3339.
    low, high = stats.newcombe_interval(48, 80, 56, 70)
    assert low == pytest.approx(0.052431, abs=1e-5)
    assert high == pytest.approx(0.333873, abs=1e-5)


def test_proportion_test_falls_back_to_fisher_for_rare_events() -> None:
    assert stats.proportion_test(2, 1000, 3, 50).test == "fisher-exact"
    assert stats.proportion_test(378, 3662, 462, 3568).test == "two-proportion-z"
    assert stats.min_expected_cell(2, 1000, 3, 50) < 5


def test_chi_square_homogeneity_scipy_docs_example() -> None:
    # scipy.stats.chi2_contingency docs: [[10, 10, 20], [20, 20, 20]].
    res = stats.chi_square_homogeneity([10, 10, 20], [20, 20, 20])
    assert res.statistic == pytest.approx(2.7777777777777777, rel=1e-12)
    assert res.p_value == pytest.approx(0.24935220877729619, rel=1e-9)
    assert res.df == 2.0
    assert res.ci_low is None


def test_chi_square_ignores_empty_buckets() -> None:
    with_empty = stats.chi_square_homogeneity([10, 0, 10, 20], [20, 0, 20, 20])
    assert with_empty.p_value == pytest.approx(0.24935220877729619, rel=1e-9)


def test_mann_whitney_r_docs_example() -> None:
    # R ?wilcox.test: wilcox.test(x, y, alternative = "g") gives W = 35, p = 0.1272.
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    res = stats.mann_whitney(y, x, alternative="greater")
    assert res.statistic == 35.0
    assert res.p_value == pytest.approx(0.1272061, rel=1e-6)
    assert res.estimate == pytest.approx(float(np.median(np.subtract.outer(x, y))), abs=1e-10)


def test_hodges_lehmann_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, 37), rng.normal(0.4, 1.5, 52)
    diffs = np.sort(np.subtract.outer(b, a).ravel())
    est, low, high = stats.hodges_lehmann(a, b)
    assert est == pytest.approx(float(np.median(diffs)), abs=1e-10)
    k = math.floor(diffs.size / 2 - sps.norm.isf(0.025) * math.sqrt(37 * 52 * 90 / 12))
    assert low == pytest.approx(diffs[k], abs=1e-10)
    assert high == pytest.approx(diffs[diffs.size - 1 - k], abs=1e-10)


def test_mann_whitney_counts_matches_scipy_on_expanded_data() -> None:
    counts_a = np.array([5, 0, 12, 30, 3])
    counts_b = np.array([1, 4, 8, 20, 9])
    a = np.repeat(np.arange(5), counts_a)
    b = np.repeat(np.arange(5), counts_b)
    u, z = stats.mann_whitney_counts_z(counts_a, counts_b)
    ref = sps.mannwhitneyu(b, a, alternative="greater", use_continuity=False,
                           method="asymptotic")
    assert float(u) == ref.statistic
    assert float(sps.norm.sf(z)) == pytest.approx(ref.pvalue, rel=1e-9)
    batched_u, _ = stats.mann_whitney_counts_z(np.stack([counts_a, counts_b]),
                                               np.stack([counts_b, counts_a]))
    assert batched_u.shape == (2,)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.two_proportion_z(5, 4, 1, 10), "successes_a"),
        (lambda: stats.two_proportion_z(1, 10, 1, 0), "trials_b"),
        (lambda: stats.two_proportion_z(1, 10, 1, 10, alpha=1.5), "alpha"),
        (lambda: stats.welch_t(1, 0, 1, 5, 0, 1), "n_a"),
        (lambda: stats.welch_t(5, 0, -1, 5, 0, 1), "var_a"),
        (lambda: stats.welch_t(5, 0, 0, 5, 1, 0), "var_a and var_b"),
        (lambda: stats.mcnemar(10, 10, 5), "n_pairs"),
        (lambda: stats.chi_square_homogeneity([1, 2], [1, 2, 3]), "counts_a"),
        (lambda: stats.mann_whitney([], [1.0]), "a must"),
        (lambda: stats.summary_from_sums(1, 1, 1), "count"),
    ],
)
def test_invalid_inputs_name_the_argument(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]


counts = st.integers(min_value=1, max_value=5000)


@st.composite
def two_arms(draw: st.DrawFn) -> tuple[int, int, int, int]:
    ta, tb = draw(counts), draw(counts)
    return draw(st.integers(0, ta)), ta, draw(st.integers(0, tb)), tb


def _contains_estimate(res: StatResult) -> bool:
    assert res.ci_low is not None
    assert res.ci_high is not None
    return res.ci_low - 1e-12 <= res.estimate <= res.ci_high + 1e-12


@settings(deadline=None, max_examples=60)
@given(two_arms())
def test_proportion_tests_properties(arms: tuple[int, int, int, int]) -> None:
    sa, ta, sb, tb = arms
    for test in (stats.two_proportion_z, stats.fisher_exact_2x2):
        res = test(sa, ta, sb, tb)
        swapped = test(sb, tb, sa, ta)
        assert 0.0 <= res.p_value <= 1.0
        assert _contains_estimate(res)
        assert swapped.estimate == pytest.approx(-res.estimate, abs=1e-12)
        assert swapped.p_value == pytest.approx(res.p_value, rel=1e-9, abs=1e-12)
        assert swapped.ci_low == pytest.approx(-res.ci_high, abs=1e-9)  # type: ignore[operator]


@settings(deadline=None, max_examples=40)
@given(two_arms())
def test_proportion_p_is_monotone_in_effect(arms: tuple[int, int, int, int]) -> None:
    sa, ta, sb, tb = arms
    if sb == tb:
        return
    for test in (stats.two_proportion_z, stats.fisher_exact_2x2):
        before = test(sa, ta, sb, tb, alternative="greater").p_value
        after = test(sa, ta, sb + 1, tb, alternative="greater").p_value
        assert after <= before + 1e-12


finite = st.floats(min_value=-1e3, max_value=1e3)
variances = st.floats(min_value=1e-3, max_value=1e3)
sizes = st.integers(min_value=2, max_value=10_000)


@settings(deadline=None, max_examples=60)
@given(sizes, finite, variances, sizes, finite, variances, st.floats(0.01, 10))
def test_welch_properties(n_a: int, m_a: float, v_a: float, n_b: int, m_b: float, v_b: float,
                          shift: float) -> None:
    res = stats.welch_t(n_a, m_a, v_a, n_b, m_b, v_b)
    swapped = stats.welch_t(n_b, m_b, v_b, n_a, m_a, v_a)
    assert 0.0 <= res.p_value <= 1.0
    assert _contains_estimate(res)
    assert swapped.p_value == pytest.approx(res.p_value, rel=1e-9, abs=1e-300)
    assert swapped.estimate == pytest.approx(-res.estimate)
    more = stats.welch_t(n_a, m_a, v_a, n_b, m_b + shift, v_b, alternative="greater")
    base = stats.welch_t(n_a, m_a, v_a, n_b, m_b, v_b, alternative="greater")
    assert more.p_value <= base.p_value + 1e-12


@settings(deadline=None, max_examples=60)
@given(st.integers(0, 500), st.integers(0, 500), st.integers(0, 2000))
def test_mcnemar_properties(b: int, c: int, extra: int) -> None:
    n = max(b + c + extra, 1)
    res, swapped = stats.mcnemar(b, c, n), stats.mcnemar(c, b, n)
    assert 0.0 <= res.p_value <= 1.0
    assert _contains_estimate(res)
    assert swapped.p_value == res.p_value
    assert swapped.estimate == pytest.approx(-res.estimate)


@settings(deadline=None, max_examples=40)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200)), min_size=2, max_size=8))
def test_chi_square_properties(pairs: list[tuple[int, int]]) -> None:
    ca, cb = [p[0] for p in pairs], [p[1] for p in pairs]
    if sum(ca) == 0 or sum(cb) == 0:
        return
    res, swapped = stats.chi_square_homogeneity(ca, cb), stats.chi_square_homogeneity(cb, ca)
    assert 0.0 <= res.p_value <= 1.0
    assert 0.0 <= res.estimate <= 1.0
    assert swapped.p_value == pytest.approx(res.p_value, rel=1e-9, abs=1e-300)


@settings(deadline=None, max_examples=30)
@given(st.lists(finite, min_size=1, max_size=30), st.lists(finite, min_size=1, max_size=30))
def test_mann_whitney_properties(a: list[float], b: list[float]) -> None:
    res = stats.mann_whitney(a, b, alternative="greater")
    swapped = stats.mann_whitney(b, a, alternative="less")
    assert 0.0 <= res.p_value <= 1.0
    assert _contains_estimate(res)
    assert swapped.p_value == pytest.approx(res.p_value, rel=1e-9)
