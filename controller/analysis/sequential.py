"""Always-valid sequential test: mSPRT with a normal mixture (Johari et al., KDD 2017).

Work on the standardized scale: with estimate theta_hat of theta = B - A, its variance
s^2 and a N(null, tau^2) mixing distribution, the mixture likelihood ratio depends only on
z = (theta_hat - null) / s and r = tau^2 / s^2:

    two-sided:  Lambda = sqrt(1 / (1 + r)) * exp(z^2 r / (2 (1 + r)))
    one-sided:  Lambda * 2 Phi(z sqrt(r / (1 + r)))   (half-normal mixture on the H1 side)

For equal arms of n with known sigma, s^2 = 2 sigma^2 / n and this is the formula of the
paper. The one-sided mixture is a supermartingale under the whole composite null
theta <= null, so by Ville's inequality P(ever 1/Lambda <= alpha) <= alpha however often we
look. tau is fixed in units of the planned horizon: r = r_star * n / planned_n, where
r_star makes the rejection boundary smallest at the planned sample size.

State across looks is only the previous minimum p-value (p_n = min(p_{n-1}, 1/Lambda_n)).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special
from scipy import stats as sps

from controller.analysis.types import StatResult

OneSided = Literal["greater", "less"]
_LOG2 = math.log(2.0)


def mixture_log_lr(
    z: npt.ArrayLike, r: npt.ArrayLike, *, one_sided: bool = True
) -> npt.NDArray[np.float64]:
    """log Lambda for standardized estimate z and variance ratio r = tau^2 / s^2 (vectorised).

    one_sided=True is the half-normal mixture on z > 0 (H1: theta > null)."""
    zz = np.asarray(z, dtype=np.float64)
    rr = np.asarray(r, dtype=np.float64)
    if np.any(rr < 0):
        raise ValueError("r must be >= 0")
    shrink = rr / (1.0 + rr)
    log_lr = -0.5 * np.log1p(rr) + 0.5 * zz * zz * shrink
    if one_sided:
        log_lr = log_lr + _LOG2 + special.log_ndtr(zz * np.sqrt(shrink))
    return np.asarray(log_lr, dtype=np.float64)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def boundary_z(r: float, alpha: float) -> float:
    """Smallest z at which the one-sided mixture rejects at level alpha (inf when r == 0)."""
    _check_alpha(alpha)
    if r < 0:
        raise ValueError(f"r must be >= 0, got {r}")
    if r == 0:
        return math.inf
    target = math.log(1 / alpha)
    # The two-sided boundary is an upper bound: the one-sided LR is larger for z > 0.
    upper = math.sqrt((1 + r) / r * (2 * target + math.log1p(r))) + 1.0

    def excess(z: float) -> float:
        return float(mixture_log_lr(z, r)) - target

    return float(optimize.brentq(excess, 0.0, upper, xtol=1e-12))


@lru_cache(maxsize=64)
def optimal_mixing_ratio(alpha: float) -> float:
    """r_star = tau^2 / s^2 at the planned horizon minimising the rejection boundary there."""
    _check_alpha(alpha)
    res = optimize.minimize_scalar(lambda lr: boundary_z(math.exp(lr), alpha),
                                   bounds=(-8.0, 12.0), method="bounded",
                                   options={"xatol": 1e-6})
    return float(math.exp(res.x))


def tau_squared_for_horizon(variance_at_horizon: float, alpha: float) -> float:
    """tau^2 in the metric's units, given the estimate's variance s^2 at the planned horizon."""
    if not variance_at_horizon > 0:
        raise ValueError(f"variance_at_horizon must be > 0, got {variance_at_horizon}")
    return optimal_mixing_ratio(alpha) * variance_at_horizon


def sequential_test(estimate: float, variance: float, *, n_a: float, n_b: float,
                    planned_n_b: float, null_value: float = 0.0,
                    alternative: OneSided = "greater", alpha: float = 0.05,
                    previous_p: float = 1.0, test: str = "msprt",
                    df: float | None = None) -> StatResult:
    """One look of the one-sided mSPRT of H0: theta <= null_value ("greater") or
    theta >= null_value ("less"), theta = B - A, for an asymptotically normal estimate.

    Returns the always-valid p-value min(previous_p, 1/Lambda), the mixture LR as statistic,
    and a two-sided confidence sequence at this look whose each side holds with 1 - alpha
    (so p <= alpha exactly when the H1-side bound excludes null_value, before taking the
    running minimum). The information fraction is n_b / planned_n_b.

    ``df``: the variance was estimated from few independent pieces (K unit buckets, K - 1
    degrees of freedom), so the standardized estimate is t-distributed, not normal. It is
    mapped to the normal score with the same tail probability before the mixture (and the
    interval's bound back through t): with small K this widens the test as t quantiles
    would; with large K it is the normal test.
    """
    _check_alpha(alpha)
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    if not 0 <= previous_p <= 1:
        raise ValueError(f"previous_p must be in [0, 1], got {previous_p}")
    if planned_n_b <= 0:
        raise ValueError(f"planned_n_b must be > 0, got {planned_n_b}")
    if n_a < 0 or n_b < 0:
        raise ValueError("n_a and n_b must be >= 0")
    if not (math.isfinite(variance) and variance >= 0):
        raise ValueError(f"variance must be a finite number >= 0, got {variance}")
    r = information_ratio(n_b, planned_n_b, alpha)
    if variance == 0 or r == 0:
        # No information yet (or a degenerate metric): the test cannot move.
        return StatResult(test, n_a, n_b, estimate, None, None, previous_p, 1.0)
    if df is not None and not df > 0:
        raise ValueError(f"df must be > 0, got {df}")
    s = math.sqrt(variance)
    sign = 1.0 if alternative == "greater" else -1.0
    z = t_to_normal_score(sign * (estimate - null_value) / s, df)
    log_lr = float(mixture_log_lr(z, r))
    p_value = min(previous_p, math.exp(-log_lr) if log_lr > 0 else 1.0)
    half = confidence_multiplier(r, alpha, df) * s
    return StatResult(test, n_a, n_b, estimate, estimate - half, estimate + half,
                      p_value, math.exp(min(log_lr, 700.0)))


def t_to_normal_score(t: float, df: float | None) -> float:
    """The normal score with the tail probability of ``t`` under Student's t with df."""
    if df is None or not math.isfinite(t):
        return t
    tail = float(special.stdtr(df, -abs(t)))  # scipy.special: no per-call distribution setup
    return math.copysign(-float(special.ndtri(tail)), t) if tail > 0 else t


def confidence_multiplier(r: float, alpha: float, df: float | None = None) -> float:
    """Half-width of the confidence sequence in standard errors at information ratio r:
    each side holds with 1 - alpha at every look (t-mapped when the variance has df)."""
    z = boundary_z(r, alpha)
    if df is None or not math.isfinite(z):
        return z
    return -float(special.stdtrit(df, float(special.ndtr(-z))))


def information_ratio(n_b: float, planned_n_b: float, alpha: float) -> float:
    """r = tau^2 / s^2 at this look: the mixing variance fixed in units of the plan."""
    return optimal_mixing_ratio(alpha) * n_b / planned_n_b


def proportion_variance(successes: int, trials: int) -> float:
    """Variance of one arm's observed rate; with no successes or no failures yet, a
    half-count keeps it positive so that one lucky arm cannot make the estimate exact."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError("need trials > 0 and 0 <= successes <= trials")
    p = successes / trials
    if successes in (0, trials):
        p = (successes + 0.5) / (trials + 1)
    return p * (1 - p) / trials


def sequential_proportions(successes_a: int, trials_a: int, successes_b: int, trials_b: int, *,
                           planned_trials_b: float, margin: float = 0.0,
                           alternative: OneSided = "greater", alpha: float = 0.05,
                           previous_p: float = 1.0) -> StatResult:
    """mSPRT on p_B - p_A with unpooled variance; H1 "greater": p_B - p_A > margin."""
    for arm, s, t in (("a", successes_a, trials_a), ("b", successes_b, trials_b)):
        if t <= 0 or not 0 <= s <= t:
            raise ValueError(f"need trials_{arm} > 0 and 0 <= successes_{arm} <= trials_{arm}")
    diff = successes_b / trials_b - successes_a / trials_a
    var = proportion_variance(successes_a, trials_a) + proportion_variance(successes_b, trials_b)
    return sequential_test(diff, var, n_a=trials_a, n_b=trials_b, planned_n_b=planned_trials_b,
                           null_value=margin, alternative=alternative, alpha=alpha,
                           previous_p=previous_p, test="msprt-proportions")


def sequential_means(n_a: float, mean_a: float, var_a: float, n_b: float, mean_b: float,
                     var_b: float, *, planned_n_b: float, margin: float = 0.0,
                     alternative: OneSided = "greater", alpha: float = 0.05,
                     previous_p: float = 1.0) -> StatResult:
    """mSPRT on mean_B - mean_A from summary statistics; H1 "greater": diff > margin."""
    if n_a < 1 or n_b < 1:
        raise ValueError("n_a and n_b must be >= 1")
    if var_a < 0 or var_b < 0:
        raise ValueError("var_a and var_b must be >= 0")
    return sequential_test(mean_b - mean_a, var_a / n_a + var_b / n_b, n_a=n_a, n_b=n_b,
                           planned_n_b=planned_n_b, null_value=margin, alternative=alternative,
                           alpha=alpha, previous_p=previous_p, test="msprt-means")


def sequential_sample_size(
    signal: float,
    sd_per_candidate: float,
    *,
    planned_n_b: float,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Candidate samples n_b at which this test rejects with probability >= power when the
    true distance from the null is ``signal`` (> 0). sd_per_candidate is sigma with
    s^2 = sigma^2 / n_b (for an allocation ratio k = n_a / n_b: var_a / k + var_b).
    Judged at a single look, so it is slightly conservative for the sequential test."""
    if not signal > 0:
        raise ValueError(f"signal must be > 0, got {signal}")
    if not sd_per_candidate > 0:
        raise ValueError(f"sd_per_candidate must be > 0, got {sd_per_candidate}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if planned_n_b <= 0:
        raise ValueError(f"planned_n_b must be > 0, got {planned_n_b}")
    r_star = optimal_mixing_ratio(alpha)
    z_power = float(sps.norm.isf(1 - power))

    def shortfall(n: float) -> float:
        return signal * math.sqrt(n) / sd_per_candidate - boundary_z(r_star * n / planned_n_b,
                                                                     alpha) - z_power

    high = max(planned_n_b, 1.0)
    while shortfall(high) < 0:
        high *= 2
        if high > 1e15:
            raise ValueError("signal is too small to detect with any realistic sample")
    low = high / 2
    while low > 1e-3 and shortfall(low) >= 0:
        low /= 2
    return float(optimize.brentq(shortfall, low, high, xtol=1e-6))
