"""Bench scenario: sticky, heavy-tailed, heterogeneous users (issue 14).

Same canary as bench.decisions (50 req/s, a look every 30 s for 40 looks, 20% weight), but
the requests come from 1000 users per rollout who keep their arm (tests.clustered_users:
lognormal activity, Beta-distributed failure probabilities). The error-rate guardrail is
judged two ways at every look: request-level (the binomial variance, as for random splits)
and unit-level (variance across 16 hashed unit buckets, delta method, t-mapped mSPRT, as
the analysis does when builtin.unit is set). A/A gives the false-rollback rate; a candidate
failing one (two) more request(s) in 100 for every user the power and the time to decision.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from bench.decisions import (
    ALPHA,
    INTERVAL_S,
    LOOKS,
    MIN_SAMPLES,
    REQUEST_RATE,
    msprt_log_lr,
    summarise,
)
from controller.analysis.compare import compare_unit_buckets
from controller.analysis.sequential import mixture_log_lr, optimal_mixing_ratio, sequential_test
from controller.analysis.types import UnitBucketedObservation
from tests.clustered_users import Counts, Population, simulate

Array = npt.NDArray[np.float64]
WEIGHT, BUCKETS = 0.2, 16
SCENARIOS = (("clustered_aa_w20", 0.0), ("clustered_errors_plus1pt_w20", 0.01),
             ("clustered_errors_plus2pt_w20", 0.02))
POPULATION = Population(users=5000, requests_per_look=REQUEST_RATE * INTERVAL_S, activity_sigma=1.0,
                        error_concentration=2.0)


def _arm_variance(trials: Array, errors: Array) -> tuple[Array, Array, Array]:
    """(rate, unit-level variance, trials) per arm over the last (bucket) axis: the
    vectorised twin of controller.analysis.clustered.bucketed_ratio."""
    total, failed = trials.sum(axis=-1), errors.sum(axis=-1)
    rate = failed / np.maximum(total, 1)
    residual = errors - rate[..., None] * trials
    mean_trials = trials.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = residual.var(axis=-1, ddof=1) / (BUCKETS * mean_trials**2)
    p = np.where((failed == 0) | (failed == total), (failed + 0.5) / (total + 1), rate)
    floor = p * (1 - p) / np.maximum(total, 1)
    return rate, np.nan_to_num(np.maximum(var, floor), nan=0.0), total


def unit_level_log_lr(c: Counts, planned_b: float) -> Array:
    rate_a, var_a, _ = _arm_variance(c.trials[:, :, 0], c.errors[:, :, 0])
    rate_b, var_b, n_b = _arm_variance(c.trials[:, :, 1], c.errors[:, :, 1])
    df = (var_a + var_b) ** 2 / np.maximum(var_a**2 / (BUCKETS - 1) + var_b**2 / (BUCKETS - 1),
                                           1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(var_a + var_b > 0, (rate_b - rate_a) / np.sqrt(var_a + var_b), 0.0)
    tail = special.stdtr(df, -np.abs(t))
    z = np.sign(t) * -special.ndtri(np.maximum(tail, 1e-300))
    r = optimal_mixing_ratio(ALPHA) * n_b / planned_b
    return mixture_log_lr(z, r)


def self_check(c: Counts, planned_b: float) -> None:
    """The vectorised twin agrees with the library path for one rollout and look."""
    sim, look = 0, LOOKS // 2
    a = UnitBucketedObservation(tuple(c.errors[sim, look, 0]), tuple(c.trials[sim, look, 0]))
    b = UnitBucketedObservation(tuple(c.errors[sim, look, 1]), tuple(c.trials[sim, look, 1]))
    cmp = compare_unit_buckets(a, b)
    ref = sequential_test(cmp.estimate, cmp.variance, n_a=cmp.n_a, n_b=cmp.n_b,
                          planned_n_b=planned_b, alpha=ALPHA, df=cmp.df)
    fast = math.exp(-max(float(unit_level_log_lr(c, planned_b)[sim, look]), 0.0))
    if not math.isclose(min(fast, 1.0), ref.p_value, rel_tol=1e-6):
        raise RuntimeError(f"unit_level_log_lr disagrees: {fast} != {ref.p_value}")


def _flags(log_lr: Array, n_b: Array) -> npt.NDArray[np.bool_]:
    return np.asarray((np.maximum.accumulate(log_lr, axis=1) >= math.log(1 / ALPHA))
                      & (n_b >= MIN_SAMPLES))


def run(rng: np.random.Generator, sims: int) -> list[dict[str, Any]]:
    planned_b = REQUEST_RATE * WEIGHT * INTERVAL_S * LOOKS
    lines = []
    for name, extra in SCENARIOS:
        c = simulate(rng, sims=sims, looks=LOOKS, weight=WEIGHT, buckets=BUCKETS,
                     population=POPULATION, candidate_extra_error=extra)
        self_check(c, planned_b)
        n_a, n_b = c.trials[:, :, 0].sum(-1), c.trials[:, :, 1].sum(-1)
        x_a, x_b = c.errors[:, :, 0].sum(-1), c.errors[:, :, 1].sum(-1)
        per_look_b = np.diff(n_b, axis=1, prepend=0.0)
        flags = {"request_level": _flags(msprt_log_lr(x_a, n_a, x_b, n_b, planned_b), n_b),
                 "unit_level": _flags(unit_level_log_lr(c, planned_b), n_b)}
        key = "false_rollback_rate" if extra == 0 else "power"
        methods = {}
        for method, f in flags.items():
            result = summarise(f, per_look_b)
            result[key] = result.pop("rollback_rate")
            methods[method] = result
        lines.append({"scenario": name, "canary_weight": WEIGHT, "users": POPULATION.users,
                      "unit_buckets": BUCKETS, "candidate_extra_error": extra,
                      "sims": sims, "looks": LOOKS, "methods": methods})
    return lines


def summary(lines: list[dict[str, Any]]) -> dict[str, Any]:
    aa = lines[0]["methods"]
    sims = lines[0]["sims"]
    noise = 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)
    per_method: dict[str, Any] = {}
    for m in ("request_level", "unit_level"):
        per_method[m] = {"aa_false_rollback_rate": aa[m]["false_rollback_rate"]}
        for line in lines[1:]:
            tag = line["scenario"].removeprefix("clustered_").removesuffix("_w20")
            per_method[m][f"power_{tag}"] = line["methods"][m]["power"]
            per_method[m][f"mean_seconds_to_decision_{tag}"] = line["methods"][m]["mean_seconds"]
    return per_method | {
        "unit_level_false_rollbacks_within_alpha":
            aa["unit_level"]["false_rollback_rate"] <= ALPHA + noise}
