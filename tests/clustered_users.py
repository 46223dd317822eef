"""Simulated sticky users for A/A and power checks of unit-level analysis (test harness).

Each rollout has its own population: activity per user is lognormal (a few users send most
requests), each user's failure probability is Beta-distributed around the mean (some fail
far more often than others), every user is assigned to one arm for good (sticky), and to one
of K analysis buckets by an independent hash. Each look adds one interval of Poisson
requests per user and binomial failures; counts are returned cumulative per (arm, bucket),
exactly what the router's unit-bucketed counters give the analysis. ``unit_level_log_lr``
is the vectorised twin of the analysis's unit-level test, for bench/decisions.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from controller.analysis.compare import compare_unit_buckets
from controller.analysis.sequential import mixture_log_lr, optimal_mixing_ratio, sequential_test
from controller.analysis.types import UnitBucketedObservation

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Population:
    users: int = 1000
    requests_per_look: float = 1500.0  # expected over all users and both arms
    activity_sigma: float = 1.5  # lognormal sigma of per-user activity
    mean_error: float = 0.01
    error_concentration: float = 2.0  # Beta a + b: smaller = users more unlike each other


@dataclass(frozen=True)
class Counts:
    """Cumulative counts, shape (sims, looks, arm, bucket); arm 0 = stable, 1 = candidate."""

    trials: Array
    errors: Array


def simulate(rng: np.random.Generator, *, sims: int, looks: int, weight: float, buckets: int,
             population: Population, candidate_extra_error: float = 0.0) -> Counts:
    """``candidate_extra_error``: the candidate fails every user's requests this much more
    often (0.01 = one more failure per 100 requests, for each user)."""
    pop = population
    shape = (sims, pop.users)
    activity = rng.lognormal(0.0, pop.activity_sigma, shape)
    activity *= pop.requests_per_look / activity.sum(axis=1, keepdims=True)
    a = pop.mean_error * pop.error_concentration
    p_user = rng.beta(a, pop.error_concentration - a, shape)
    arm = (rng.random(shape) < weight).astype(np.int64)
    p_user = np.where(arm == 1, np.minimum(p_user + candidate_extra_error, 1.0), p_user)
    bucket = rng.integers(0, buckets, shape)
    cell = (np.arange(sims)[:, None] * 2 + arm) * buckets + bucket
    size = sims * 2 * buckets
    trials = np.zeros((looks, size))
    errors = np.zeros((looks, size))
    for look in range(looks):
        requests = rng.poisson(activity)
        failed = rng.binomial(requests, p_user)
        trials[look] = np.bincount(cell.ravel(), requests.ravel(), size)
        errors[look] = np.bincount(cell.ravel(), failed.ravel(), size)

    def cumulative(x: Array) -> Array:
        per_look = x.reshape(looks, sims, 2, buckets).transpose(1, 0, 2, 3)
        return np.asarray(np.cumsum(per_look, axis=1), dtype=np.float64)
    return Counts(cumulative(trials), cumulative(errors))


def _arm_variance(trials: Array, errors: Array, buckets: int) -> tuple[Array, Array, Array]:
    """(rate, unit-level variance, trials) per arm over the last (bucket) axis: the
    vectorised twin of controller.analysis.clustered.bucketed_ratio."""
    total, failed = trials.sum(axis=-1), errors.sum(axis=-1)
    rate = failed / np.maximum(total, 1)
    residual = errors - rate[..., None] * trials
    mean_trials = trials.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = residual.var(axis=-1, ddof=1) / (buckets * mean_trials**2)
    p = np.where((failed == 0) | (failed == total), (failed + 0.5) / (total + 1), rate)
    floor = p * (1 - p) / np.maximum(total, 1)
    return rate, np.nan_to_num(np.maximum(var, floor), nan=0.0), total


def unit_level_log_lr(c: Counts, planned_b: float, alpha: float) -> Array:
    """log LR of the unit-level mSPRT at every (rollout, look), vectorised."""
    buckets = c.trials.shape[-1]
    rate_a, var_a, _ = _arm_variance(c.trials[:, :, 0], c.errors[:, :, 0], buckets)
    rate_b, var_b, n_b = _arm_variance(c.trials[:, :, 1], c.errors[:, :, 1], buckets)
    df = (var_a + var_b) ** 2 / np.maximum(var_a**2 / (buckets - 1) + var_b**2 / (buckets - 1),
                                           1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(var_a + var_b > 0, (rate_b - rate_a) / np.sqrt(var_a + var_b), 0.0)
    tail = special.stdtr(df, -np.abs(t))
    z = np.sign(t) * -special.ndtri(np.maximum(tail, 1e-300))
    r = optimal_mixing_ratio(alpha) * n_b / planned_b
    return mixture_log_lr(z, r)


def self_check(c: Counts, planned_b: float, alpha: float) -> None:
    """The vectorised twin agrees with the library path for one rollout and look."""
    sim, look = 0, c.trials.shape[1] // 2
    a = UnitBucketedObservation(tuple(c.errors[sim, look, 0]), tuple(c.trials[sim, look, 0]))
    b = UnitBucketedObservation(tuple(c.errors[sim, look, 1]), tuple(c.trials[sim, look, 1]))
    cmp = compare_unit_buckets(a, b)
    ref = sequential_test(cmp.estimate, cmp.variance, n_a=cmp.n_a, n_b=cmp.n_b,
                          planned_n_b=planned_b, alpha=alpha, df=cmp.df)
    fast = math.exp(-max(float(unit_level_log_lr(c, planned_b, alpha)[sim, look]), 0.0))
    if not math.isclose(min(fast, 1.0), ref.p_value, rel_tol=1e-6):
        raise RuntimeError(f"unit_level_log_lr disagrees: {fast} != {ref.p_value}")
