"""Simulated sticky users for A/A and power checks of unit-level analysis (test harness).

Each rollout has its own population: activity per user is lognormal (a few users send most
requests), each user's failure probability is Beta-distributed around the mean (some fail
far more often than others), every user is assigned to one arm for good (sticky), and to one
of K analysis buckets by an independent hash. Each look adds one interval of Poisson
requests per user and binomial failures; counts are returned cumulative per (arm, bucket),
exactly what the router's unit-bucketed counters give the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

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
