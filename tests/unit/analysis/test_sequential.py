"""mSPRT: the public value, its invariants, and that looking every interval stays valid."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from controller.analysis import sequential as sq

pytestmark = pytest.mark.unit

ALPHA = 0.05


def test_two_sided_lr_public_value() -> None:
    # n = 1000 per arm, diff 0.1, sigma 1, tau^2 = 0.01: s^2 = 2 sigma^2 / n, r = tau^2 / s^2.
    s2 = 2 * 1.0 / 1000
    lr = math.exp(float(sq.mixture_log_lr(0.1 / math.sqrt(s2), 0.01 / s2, one_sided=False)))
    assert lr == pytest.approx(3.278722, rel=1e-6)


def test_one_sided_lr_is_the_half_normal_mixture() -> None:
    # Check the closed form against direct numerical integration over theta > 0.
    z, r = 1.7, 3.0
    s, tau = 1.0, math.sqrt(3.0)
    grid = np.linspace(0, 40, 400_001)
    integrand = 2 * sps.norm.pdf(grid, 0, tau) * np.exp(grid * z / s - grid**2 / (2 * s**2))
    numeric = float(np.sum((integrand[1:] + integrand[:-1]) / 2 * np.diff(grid)))
    assert math.exp(float(sq.mixture_log_lr(z, r))) == pytest.approx(numeric, rel=1e-7)


def test_boundary_is_where_the_test_rejects() -> None:
    r = sq.optimal_mixing_ratio(ALPHA)
    c = sq.boundary_z(r, ALPHA)
    assert float(sq.mixture_log_lr(c, r)) == pytest.approx(math.log(1 / ALPHA), abs=1e-9)
    # The boundary is smallest at the planned horizon (r = r_star).
    assert c < sq.boundary_z(r / 2, ALPHA)
    assert c < sq.boundary_z(r * 2, ALPHA)
    assert sq.boundary_z(0.0, ALPHA) == math.inf


def test_tau_squared_scales_with_horizon_variance() -> None:
    r = sq.optimal_mixing_ratio(ALPHA)
    assert sq.tau_squared_for_horizon(0.002, ALPHA) == pytest.approx(r * 0.002)


def test_p_value_matches_lr_and_ci_agrees_with_rejection() -> None:
    res = sq.sequential_proportions(100, 10_000, 30, 1000, planned_trials_b=2000)
    assert res.p_value == pytest.approx(1 / res.statistic)
    assert res.p_value < ALPHA
    assert res.ci_low is not None
    assert res.ci_low > 0  # rejects "no increase" exactly when the lower bound excludes 0
    assert (res.n_a, res.n_b) == (10_000.0, 1000.0)


def test_running_minimum_p_is_kept() -> None:
    res = sq.sequential_proportions(100, 10_000, 10, 1000, planned_trials_b=2000,
                                    previous_p=0.2)
    assert res.p_value == 0.2


def test_margin_makes_rejection_harder() -> None:
    strict = sq.sequential_proportions(100, 10_000, 25, 1000, planned_trials_b=2000)
    tolerant = sq.sequential_proportions(100, 10_000, 25, 1000, planned_trials_b=2000,
                                         margin=0.01)
    assert tolerant.p_value > strict.p_value


def test_no_information_yet_keeps_previous_p() -> None:
    res = sq.sequential_means(10, 1.0, 0.0, 10, 2.0, 0.0, planned_n_b=100, previous_p=0.3)
    assert res.p_value == 0.3
    assert res.ci_low is None


def test_means_uses_welch_variance() -> None:
    res = sq.sequential_means(1000, 0.0, 1.0, 1000, 0.1, 1.0, planned_n_b=1000)
    z, r = 0.1 / math.sqrt(0.002), sq.optimal_mixing_ratio(ALPHA)
    assert res.statistic == pytest.approx(math.exp(float(sq.mixture_log_lr(z, r))))


def test_sequential_sample_size_reaches_power() -> None:
    sd = math.sqrt(0.01 * 0.99 / 19 + 0.02 * 0.98)
    n = sq.sequential_sample_size(0.01, sd, planned_n_b=3000)
    r = sq.optimal_mixing_ratio(ALPHA) * n / 3000
    z_expected = 0.01 * math.sqrt(n) / sd
    assert z_expected - sq.boundary_z(r, ALPHA) == pytest.approx(sps.norm.isf(0.2), abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"previous_p": 1.5}, "previous_p"),
        ({"planned_n_b": 0.0}, "planned_n_b"),
        ({"variance": -1.0}, "variance"),
        ({"alternative": "two-sided"}, "alternative"),
    ],
)
def test_invalid_inputs_name_the_argument(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"estimate": 0.1, "variance": 0.01, "n_a": 10, "n_b": 10,
                               "planned_n_b": 100}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        sq.sequential_test(**args)  # type: ignore[arg-type]


@st.composite
def two_arms(draw: st.DrawFn) -> tuple[int, int, int, int]:
    ta, tb = draw(st.integers(1, 20_000)), draw(st.integers(1, 20_000))
    return draw(st.integers(0, ta)), ta, draw(st.integers(0, tb)), tb


@settings(deadline=None, max_examples=80)
@given(two_arms(), st.floats(0, 0.05), st.floats(0.01, 1.0))
def test_sequential_properties(arms: tuple[int, int, int, int], margin: float,
                               previous: float) -> None:
    sa, ta, sb, tb = arms
    res = sq.sequential_proportions(sa, ta, sb, tb, planned_trials_b=5000, margin=margin,
                                    previous_p=previous)
    assert 0.0 <= res.p_value <= previous
    assert res.ci_low is not None
    assert res.ci_high is not None
    assert res.ci_low <= res.estimate <= res.ci_high
    # Swapping arms mirrors the test: "B worse than A" becomes "A worse than B" (the
    # horizon counts the candidate arm, so keep the same information fraction).
    mirrored = sq.sequential_proportions(sb, tb, sa, ta, planned_trials_b=5000 * ta / tb,
                                         margin=-margin, alternative="less",
                                         previous_p=previous)
    assert mirrored.p_value == pytest.approx(res.p_value, rel=1e-9)
    assert mirrored.estimate == pytest.approx(-res.estimate, abs=1e-12)


@settings(deadline=None, max_examples=60)
@given(st.floats(-5, 5), st.floats(0.01, 3), st.floats(1e-4, 50))
def test_p_is_monotone_in_effect(estimate: float, step: float, r_fraction: float) -> None:
    common = {"variance": 1.0, "n_a": 100, "n_b": r_fraction, "planned_n_b": 1.0}
    p1 = sq.sequential_test(estimate, **common).p_value  # type: ignore[arg-type]
    p2 = sq.sequential_test(estimate + step, **common).p_value  # type: ignore[arg-type]
    assert p2 <= p1 + 1e-12


def _aa_rejections(rng: np.random.Generator, sims: int, looks: int, per_look: int,
                   rate: float) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """A/A with unequal arms (baseline 4x the canary), analysed at every look.

    Returns (sequential rejected, repeated one-sided z test rejected) per simulated rollout.
    """
    n_b = per_look * np.arange(1, looks + 1)
    n_a = 4 * n_b
    x_a = rng.binomial(4 * per_look, rate, (sims, looks)).cumsum(axis=1)
    x_b = rng.binomial(per_look, rate, (sims, looks)).cumsum(axis=1)
    p_a, p_b = x_a / n_a, x_b / n_b
    # Same variance rule as sequential.proportion_variance (half-count when degenerate).
    ta, tb = np.where((x_a == 0) | (x_a == n_a), (x_a + 0.5) / (n_a + 1), p_a), \
        np.where((x_b == 0) | (x_b == n_b), (x_b + 0.5) / (n_b + 1), p_b)
    var = ta * (1 - ta) / n_a + tb * (1 - tb) / n_b
    z = (p_b - p_a) / np.sqrt(var)
    r = sq.optimal_mixing_ratio(ALPHA) * n_b / n_b[-1]
    seq: npt.NDArray[np.bool_] = np.asarray(
        (sq.mixture_log_lr(z, r) >= math.log(1 / ALPHA)).any(axis=1))
    pooled = (x_a + x_b) / (n_a + n_b)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = np.where(se0 > 0, (p_b - p_a) / se0, 0.0)
    fixed: npt.NDArray[np.bool_] = np.asarray((z0 >= sps.norm.isf(ALPHA)).any(axis=1))
    return seq, fixed


def test_aa_every_look_keeps_false_rejections_below_alpha() -> None:
    sims = 4000
    seq, fixed = _aa_rejections(np.random.default_rng(20240601), sims, looks=50, per_look=200,
                                rate=0.05)
    noise = 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)
    assert seq.mean() <= ALPHA + noise
    # The same data judged by a fixed-horizon z test at every look is wrong far too often.
    assert fixed.mean() > 3 * ALPHA


def test_function_agrees_with_vectorised_simulation_core() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        ta, tb = int(rng.integers(50, 5000)), int(rng.integers(50, 5000))
        sa, sb = int(rng.binomial(ta, 0.1)), int(rng.binomial(tb, 0.12))
        res = sq.sequential_proportions(sa, ta, sb, tb, planned_trials_b=4000)
        var = sq.proportion_variance(sa, ta) + sq.proportion_variance(sb, tb)
        z = (sb / tb - sa / ta) / math.sqrt(var)
        log_lr = float(sq.mixture_log_lr(z, sq.optimal_mixing_ratio(ALPHA) * tb / 4000))
        assert res.p_value == pytest.approx(min(1.0, math.exp(-log_lr)), rel=1e-9)
