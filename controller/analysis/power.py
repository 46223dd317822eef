"""Fixed-horizon sample sizes: how many samples a comparison needs to see an effect.

For the sequential test's own (larger) requirement see
controller.analysis.sequential.sequential_sample_size.
"""

from __future__ import annotations

import math

from scipy import optimize
from scipy import stats as sps


def _check_design(alpha: float, power: float, ratio: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if not ratio > 0:
        raise ValueError(f"ratio must be > 0, got {ratio}")


def sample_size_two_proportions(
    p_baseline: float,
    delta: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> float:
    """Candidate-arm sample size to detect p_baseline -> p_baseline + delta, two-sided alpha.

    With ratio = n_a / n_b = 1 this is Evan Miller's calculator (per arm); a larger baseline
    arm (ratio > 1, a small canary weight) lowers what the candidate needs.
    """
    _check_design(alpha, power, ratio)
    if not 0 < p_baseline < 1:
        raise ValueError(f"p_baseline must be in (0, 1), got {p_baseline}")
    p_alt = p_baseline + delta
    if delta == 0 or not 0 < p_alt < 1:
        raise ValueError(f"delta must be non-zero with p_baseline + delta in (0, 1), got {delta}")
    var_base = p_baseline * (1 - p_baseline)
    sd_null = math.sqrt(var_base * (1 + 1 / ratio))
    sd_alt = math.sqrt(var_base / ratio + p_alt * (1 - p_alt))
    z_alpha = float(sps.norm.isf(alpha / 2))
    z_beta = float(sps.norm.isf(1 - power))
    return (z_alpha * sd_null + z_beta * sd_alt) ** 2 / delta**2


def _t_power(n_b: float, delta: float, sd: float, alpha: float, ratio: float) -> float:
    n_a = ratio * n_b
    df = n_a + n_b - 2
    ncp = abs(delta) / (sd * math.sqrt(1 / n_a + 1 / n_b))
    return float(sps.nct.sf(sps.t.isf(alpha / 2, df), df, ncp))


def sample_size_means(
    delta: float,
    sd: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> float:
    """Candidate-arm size for a two-sided two-sample t test of a mean shift delta (common sd),
    from the noncentral t like R's power.t.test (upper tail only, strict = FALSE)."""
    _check_design(alpha, power, ratio)
    if delta == 0 or not math.isfinite(delta):
        raise ValueError(f"delta must be finite and non-zero, got {delta}")
    if not sd > 0:
        raise ValueError(f"sd must be > 0, got {sd}")
    low = 2.0 / min(ratio, 1.0) + 1e-9  # df must stay positive
    high = max(4.0, low * 2)
    while _t_power(high, delta, sd, alpha, ratio) < power:
        high *= 2
        if high > 1e15:
            raise ValueError("delta is too small relative to sd")
    if _t_power(low, delta, sd, alpha, ratio) >= power:
        return low
    return float(optimize.brentq(
        lambda n: _t_power(n, delta, sd, alpha, ratio) - power, low, high, xtol=1e-9))


def more_samples_needed(current: float, required: float) -> float:
    """Samples still to collect (0 once enough): whole samples, rounded up."""
    if current < 0 or required < 0:
        raise ValueError("current and required must be >= 0")
    return float(max(0, math.ceil(required - current - 1e-9)))


def more_samples_for_proportions(
    p_baseline: float,
    delta: float,
    current_n_b: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> float:
    """How many more candidate samples a z test needs to detect the minimum effect delta."""
    required = sample_size_two_proportions(p_baseline, delta, alpha=alpha, power=power,
                                           ratio=ratio)
    return more_samples_needed(current_n_b, required)


def more_samples_for_means(
    delta: float,
    sd: float,
    current_n_b: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> float:
    """How many more candidate samples a t test needs to detect the minimum shift delta."""
    required = sample_size_means(delta, sd, alpha=alpha, power=power, ratio=ratio)
    return more_samples_needed(current_n_b, required)
