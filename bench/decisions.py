"""Bench: how fast and how wrongly do rollout judges decide? (issue 4)

Simulates many canary rollouts side by side and judges the same traffic with:
- ours: always-valid mSPRT per guardrail (controller.analysis.sequential), Holm over the two
  guardrails, looked at every interval;
- flagger: a fixed threshold per metric checked on each interval's data, rollback after
  5 failed checks (cumulative, like Flagger's failedChecks). Thresholds are tuned the way
  a careful operator would with A/A data: the 99th percentile of the healthy canary's
  per-interval value at that weight (error rate; p99 from histogram_quantile);
- fixed_repeated: a one-sided pooled z test on cumulative data, repeated every interval;
- fixed_once: the same z test judged once at the planned horizon (the valid fixed design);
- kayenta: Mann-Whitney per metric on each interval's data, two-sided at 98 % confidence
  (Kayenta's default), rollback on the first interval that is significantly worse.

Traffic: Poisson arrivals at REQUEST_RATE req/s split by canary weight, analysis every
INTERVAL_S seconds for LOOKS intervals. Each rollout has two guardrails: error rate, and
latency from a Prometheus histogram (judged as the share slower than the 250 ms bucket by
ours/fixed, as the interval's p99 by flagger, over the buckets by kayenta). Latency is
lognormal (median 100 ms, sigma 0.5). fixed tests use alpha / 2 per metric (Bonferroni) so
that all statistical judges work at a family-wise alpha of 0.05.

Clustered users: sticky, heavy-tailed, heterogeneous users judged
request-level vs unit-level (A/A false rollbacks, power, time to decision).

Run: python -m bench.decisions [--sims N] [--clustered-sims N] [--seed S]. One JSON line per
scenario, then a summary line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from controller.analysis.histogram import histogram_quantile
from controller.analysis.sequential import (
    mixture_log_lr,
    optimal_mixing_ratio,
    sequential_proportions,
)
from controller.analysis.stats import mann_whitney_counts_z
from tests import clustered_users

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

REQUEST_RATE = 50.0  # requests per second over both variants
INTERVAL_S = 30.0
LOOKS = 40  # a 20-minute canary step
ALPHA = 0.05
MIN_SAMPLES = 100  # candidate samples before ours may fail
BASE_ERROR = 0.01
LATENCY_MEDIAN_S, LATENCY_SIGMA = 0.1, 0.5
BOUNDS = np.array([0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, np.inf])
SLO_INDEX = 3  # the 0.25 s bucket: share slower than it is the latency guardrail
FLAGGER_FAILED_CHECKS = 5
KAYENTA_ALPHA = 0.02
CALIBRATION_SEED, CALIBRATION_INTERVALS = 7, 50_000
METHODS = ("ours", "flagger", "fixed_repeated", "fixed_once", "kayenta")


@dataclass(frozen=True)
class Scenario:
    name: str
    weight: float
    error_b: float
    latency_factor: float

    @property
    def is_null(self) -> bool:
        return self.error_b == BASE_ERROR and self.latency_factor == 1.0


def bucket_probs(latency_factor: float) -> Array:
    """Probability of each histogram bucket for lognormal latency scaled by a factor."""
    mu = math.log(LATENCY_MEDIAN_S * latency_factor)
    cdf = sps.norm.cdf((np.log(BOUNDS[:-1]) - mu) / LATENCY_SIGMA)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def quantile_batch(per_bucket: Array, q: float) -> Array:
    """histogram_quantile over the last axis of per-bucket counts (vectorised)."""
    cum = np.cumsum(per_bucket, axis=-1)
    rank = q * cum[..., -1:]
    idx = np.minimum((cum < rank).sum(axis=-1, keepdims=True), BOUNDS.size - 1)
    upper = BOUNDS[idx]
    lower = np.where(idx > 0, BOUNDS[np.maximum(idx - 1, 0)], 0.0)
    below = np.where(idx > 0, np.take_along_axis(cum, np.maximum(idx - 1, 0), axis=-1), 0.0)
    in_bucket = np.take_along_axis(cum, idx, axis=-1) - below
    with np.errstate(divide="ignore", invalid="ignore"):
        value = lower + (upper - lower) * (rank - below) / in_bucket
    value = np.where(idx == BOUNDS.size - 1, BOUNDS[-2], value)
    return np.asarray(np.where(cum[..., -1:] > 0, value, np.nan)[..., 0], dtype=np.float64)


def flagger_thresholds(weight: float) -> tuple[float, float]:
    """(error rate, p99) limits: 99th percentile of a healthy canary's interval values."""
    rng = np.random.default_rng(CALIBRATION_SEED)  # fixed: independent of scenario order
    n = rng.poisson(REQUEST_RATE * INTERVAL_S * weight, CALIBRATION_INTERVALS)
    n = np.maximum(n, 1)
    errors = rng.binomial(n, BASE_ERROR) / n
    p99 = quantile_batch(rng.multinomial(n, bucket_probs(1.0)).astype(float), 0.99)
    return float(np.quantile(errors, 0.99)), float(np.quantile(p99, 0.99))


def self_check(rng: np.random.Generator) -> None:
    """The vectorised twins must agree with the library functions they stand in for."""
    counts = rng.multinomial(60, bucket_probs(1.0), 20).astype(float)
    fast = quantile_batch(counts, 0.99)
    for row, value in zip(counts, fast, strict=True):
        slow = histogram_quantile(0.99, dict(zip(BOUNDS, np.cumsum(row), strict=True)))
        if not math.isclose(slow, float(value), rel_tol=1e-12):
            raise RuntimeError(f"quantile_batch disagrees: {value} != {slow}")
    x_a, x_b = np.array([[30.0]]), np.array([[9.0]])
    n_a, n_b = np.array([[3000.0]]), np.array([[400.0]])
    fast_p = math.exp(-float(msprt_log_lr(x_a, n_a, x_b, n_b, 1000.0)[0, 0]))
    ref = sequential_proportions(30, 3000, 9, 400, planned_trials_b=1000.0, alpha=ALPHA)
    if not math.isclose(min(fast_p, 1.0), ref.p_value, rel_tol=1e-9):
        raise RuntimeError(f"msprt_log_lr disagrees: {fast_p} != {ref.p_value}")


@dataclass(frozen=True)
class Traffic:
    """Per-interval counts, shape (sims, looks) or (sims, looks, buckets)."""

    n_a: Array
    n_b: Array
    err_a: Array
    err_b: Array
    lat_a: Array
    lat_b: Array


def simulate(rng: np.random.Generator, sc: Scenario, sims: int) -> Traffic:
    per_interval = REQUEST_RATE * INTERVAL_S
    n_a = rng.poisson(per_interval * (1 - sc.weight), (sims, LOOKS))
    n_b = rng.poisson(per_interval * sc.weight, (sims, LOOKS))
    return Traffic(
        n_a.astype(float), n_b.astype(float),
        rng.binomial(n_a, BASE_ERROR).astype(float), rng.binomial(n_b, sc.error_b).astype(float),
        rng.multinomial(n_a, bucket_probs(1.0)).astype(float),
        rng.multinomial(n_b, bucket_probs(sc.latency_factor)).astype(float))


def slow_counts(latency: Array) -> Array:
    return np.asarray(latency[..., SLO_INDEX + 1:].sum(axis=-1), dtype=np.float64)


def msprt_log_lr(x_a: Array, n_a: Array, x_b: Array, n_b: Array, planned_b: float) -> Array:
    """Vectorised twin of sequential.sequential_proportions (H1: p_B > p_A)."""

    def var(x: Array, n: Array) -> Array:
        p = np.where((x == 0) | (x == n), (x + 0.5) / (n + 1), x / np.maximum(n, 1))
        return np.asarray(p * (1 - p) / np.maximum(n, 1), dtype=np.float64)

    s = np.sqrt(var(x_a, n_a) + var(x_b, n_b))
    z = (x_b / np.maximum(n_b, 1) - x_a / np.maximum(n_a, 1)) / s
    r = optimal_mixing_ratio(ALPHA) * n_b / planned_b
    return mixture_log_lr(z, r)


def pooled_z(x_a: Array, n_a: Array, x_b: Array, n_b: Array) -> Array:
    pooled = (x_a + x_b) / np.maximum(n_a + n_b, 1)
    se = np.sqrt(pooled * (1 - pooled) * (1 / np.maximum(n_a, 1) + 1 / np.maximum(n_b, 1)))
    diff = x_b / np.maximum(n_b, 1) - x_a / np.maximum(n_a, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(se > 0, diff / se, 0.0), dtype=np.float64)


def first_true(flags: BoolArray) -> npt.NDArray[np.int64]:
    """Index of the first look that decided, or LOOKS when none did."""
    return np.where(flags.any(axis=1), flags.argmax(axis=1), LOOKS).astype(np.int64)


def judge_all(t: Traffic, planned_b: float, weight: float) -> dict[str, BoolArray]:
    """Per method: (sims, looks) flags saying 'roll back now'."""
    c = {k: np.cumsum(v, axis=1) for k, v in vars(t).items()}
    slow_a, slow_b = slow_counts(c["lat_a"]), slow_counts(c["lat_b"])
    # ours: the running minimum p is the running maximum log LR; Holm over 2 metrics
    # rejects something exactly when the smaller p <= alpha / 2.
    best = np.maximum(
        np.maximum.accumulate(msprt_log_lr(c["err_a"], c["n_a"], c["err_b"], c["n_b"],
                                           planned_b), axis=1),
        np.maximum.accumulate(msprt_log_lr(slow_a, c["n_a"], slow_b, c["n_b"], planned_b),
                              axis=1))
    ours = (best >= math.log(2 / ALPHA)) & (c["n_b"] >= MIN_SAMPLES)
    z_crit = float(sps.norm.isf(ALPHA / 2))
    fixed = ((pooled_z(c["err_a"], c["n_a"], c["err_b"], c["n_b"]) >= z_crit)
             | (pooled_z(slow_a, c["n_a"], slow_b, c["n_b"]) >= z_crit))
    once = np.zeros_like(fixed)
    once[:, -1] = fixed[:, -1]
    err_limit, p99_limit = flagger_thresholds(weight)
    with np.errstate(invalid="ignore", divide="ignore"):
        failed = ((t.err_b / t.n_b > err_limit) | (quantile_batch(t.lat_b, 0.99) > p99_limit)
                  | (t.n_b == 0))  # Flagger fails a check that has no data
    flagger = np.cumsum(failed, axis=1) >= FLAGGER_FAILED_CHECKS
    z_mw = float(sps.norm.isf(KAYENTA_ALPHA / 2))
    _, z_err = mann_whitney_counts_z(np.stack([t.n_a - t.err_a, t.err_a], axis=-1),
                                     np.stack([t.n_b - t.err_b, t.err_b], axis=-1))
    _, z_lat = mann_whitney_counts_z(t.lat_a, t.lat_b)
    kayenta = (z_err >= z_mw) | (z_lat >= z_mw)
    return {"ours": ours, "flagger": flagger, "fixed_repeated": fixed, "fixed_once": once,
            "kayenta": kayenta}


def summarise(flags: BoolArray, n_b: Array) -> dict[str, float]:
    look = first_true(flags)
    rolled = look < LOOKS
    decided_at = np.minimum(look, LOOKS - 1)  # no rollback: the step passes at the horizon
    samples = np.cumsum(n_b, axis=1)[np.arange(n_b.shape[0]), decided_at]
    seconds = (decided_at + 1) * INTERVAL_S
    return {"rollback_rate": round(float(rolled.mean()), 4),
            "median_samples": float(np.median(samples)),
            "median_seconds": float(np.median(seconds)),
            "mean_seconds": round(float(seconds.mean()), 1)}


def run_scenario(rng: np.random.Generator, sc: Scenario, sims: int) -> dict[str, Any]:
    t = simulate(rng, sc, sims)
    planned_b = REQUEST_RATE * sc.weight * INTERVAL_S * LOOKS
    flags = judge_all(t, planned_b, sc.weight)
    results = {m: summarise(f, t.n_b) for m, f in flags.items()}
    rate_key = "false_rollback_rate" if sc.is_null else "power"
    for r in results.values():
        r[rate_key] = r.pop("rollback_rate")
    return {"scenario": sc.name, "canary_weight": sc.weight, "request_rate_rps": REQUEST_RATE,
            "interval_s": INTERVAL_S, "looks": LOOKS, "sims": sims,
            "planned_candidate_samples": planned_b, "methods": results}


def scenarios() -> list[Scenario]:
    out = []
    for w in (0.05, 0.25):
        out += [Scenario(f"aa_w{round(w * 100)}", w, BASE_ERROR, 1.0),
                Scenario(f"errors_1to2pct_w{round(w * 100)}", w, 2 * BASE_ERROR, 1.0),
                Scenario(f"latency_plus10pct_w{round(w * 100)}", w, BASE_ERROR, 1.1)]
    return out


# Clustered users (issue 14): the same canary, but the requests come from 5000 sticky users
# per rollout (tests.clustered_users: lognormal activity, Beta-distributed failure
# probabilities). The error-rate guardrail is judged request-level (binomial variance, as
# for random splits) and unit-level (variance across 16 hashed unit buckets, delta method,
# t-mapped mSPRT, as the analysis does when builtin.unit is set). A/A: false rollbacks; a
# candidate failing one (two) more request(s) in 100 for every user: power, time to decision.
CLUSTERED_WEIGHT, UNIT_BUCKETS = 0.2, 16
CLUSTERED_SCENARIOS = (("clustered_aa_w20", 0.0), ("clustered_errors_plus1pt_w20", 0.01),
                       ("clustered_errors_plus2pt_w20", 0.02))
CLUSTERED_POPULATION = clustered_users.Population(
    users=5000, requests_per_look=REQUEST_RATE * INTERVAL_S, activity_sigma=1.0,
    error_concentration=2.0)


def _flags(log_lr: Array, n_b: Array) -> npt.NDArray[np.bool_]:
    return np.asarray((np.maximum.accumulate(log_lr, axis=1) >= math.log(1 / ALPHA))
                      & (n_b >= MIN_SAMPLES))


def run_clustered(rng: np.random.Generator, sims: int) -> list[dict[str, Any]]:
    planned_b = REQUEST_RATE * CLUSTERED_WEIGHT * INTERVAL_S * LOOKS
    lines = []
    for name, extra in CLUSTERED_SCENARIOS:
        c = clustered_users.simulate(rng, sims=sims, looks=LOOKS, weight=CLUSTERED_WEIGHT,
                                     buckets=UNIT_BUCKETS, population=CLUSTERED_POPULATION,
                                     candidate_extra_error=extra)
        clustered_users.self_check(c, planned_b, ALPHA)
        n_a, n_b = c.trials[:, :, 0].sum(-1), c.trials[:, :, 1].sum(-1)
        x_a, x_b = c.errors[:, :, 0].sum(-1), c.errors[:, :, 1].sum(-1)
        per_look_b = np.diff(n_b, axis=1, prepend=0.0)
        flags = {"request_level": _flags(msprt_log_lr(x_a, n_a, x_b, n_b, planned_b), n_b),
                 "unit_level": _flags(clustered_users.unit_level_log_lr(c, planned_b, ALPHA), n_b)}
        key = "false_rollback_rate" if extra == 0 else "power"
        methods = {}
        for method, f in flags.items():
            result = summarise(f, per_look_b)
            result[key] = result.pop("rollback_rate")
            methods[method] = result
        lines.append({"scenario": name, "canary_weight": CLUSTERED_WEIGHT,
                      "users": CLUSTERED_POPULATION.users, "unit_buckets": UNIT_BUCKETS,
                      "candidate_extra_error": extra, "sims": sims, "looks": LOOKS,
                      "methods": methods})
    return lines


def clustered_summary(lines: list[dict[str, Any]]) -> dict[str, Any]:
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


def summary(lines: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    null = [ln for ln in lines if "aa_" in ln["scenario"]]
    alt = [ln for ln in lines if "aa_" not in ln["scenario"]]
    per_method = {}
    for m in METHODS:
        per_method[m] = {
            "max_false_rollback_rate": max(ln["methods"][m]["false_rollback_rate"] for ln in null),
            "mean_power": round(float(np.mean([ln["methods"][m]["power"] for ln in alt])), 4),
            "mean_seconds_to_decision_on_regressions": round(float(np.mean(
                [ln["methods"][m]["mean_seconds"] for ln in alt])), 1)}
    ours, once = per_method["ours"], per_method["fixed_once"]
    sims = null[0]["sims"]
    noise = 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)
    return {"summary": True, "alpha": ALPHA, "methods": per_method,
            "ours_false_rollbacks_within_alpha": ours["max_false_rollback_rate"] <= ALPHA + noise,
            "ours_decides_no_later_than_fixed_horizon": (
                ours["mean_seconds_to_decision_on_regressions"]
                <= once["mean_seconds_to_decision_on_regressions"]),
            "runtime_s": round(seconds, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sims", type=int, default=5000, help="rollouts per scenario")
    parser.add_argument("--clustered-sims", type=int, default=500,
                        help="rollouts per clustered-users scenario (1000 users each)")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    if args.sims < 10:
        parser.error("--sims must be >= 10")
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    self_check(rng)
    lines = [run_scenario(rng, sc, args.sims) for sc in scenarios()]
    clustered_lines = run_clustered(rng, max(args.clustered_sims, 10))
    for ln in lines + clustered_lines:
        print(json.dumps(ln, sort_keys=True))
    final = summary(lines, time.perf_counter() - start)
    final["clustered_users"] = clustered_summary(clustered_lines)
    print(json.dumps(final, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
