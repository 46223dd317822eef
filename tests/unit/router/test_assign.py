"""Sticky assignment: PlanOut compatibility, monotone moves, SRM, overrides (pure)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from controller.contract.table import parse_table
from controller.router.assign import (
    CompiledTable,
    bucket_of,
    choose_mirrors,
    choose_primary,
    compile_plan,
    cookie_value,
    uniform,
    uniform_choice,
)

pytestmark = pytest.mark.unit


def plan_for(weight_bp: int, **extra: object) -> CompiledTable:
    doc = {
        "version": 1, "salt": "exp-1",
        "stable": {"backends": ["127.0.0.1:1"]},
        "candidate": {"backends": ["127.0.0.1:2"], "weightBp": weight_bp},
    }
    doc.update(extra)
    return compile_plan(parse_table(doc))


def test_planout_reference_values() -> None:
    # statistics.md: unit 4, salts "test_salt"/"foo" -> 'b' of ['a','b'], 7 of range(8);
    # param salt "bar" -> 'a'.
    assert uniform_choice(["a", "b"], "test_salt", "foo", 4) == "b"
    assert uniform_choice(list(range(8)), "test_salt", "foo", 4) == 7
    assert uniform_choice(["a", "b"], "test_salt", "bar", 4) == "a"
    assert 0.0 <= uniform("test_salt", "foo", 4) <= 1.0


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=20))
def test_bucket_in_range_and_deterministic(unit: str, salt: str) -> None:
    assert 0 <= bucket_of(salt, unit) < 10_000
    assert bucket_of(salt, unit) == bucket_of(salt, unit)


def test_raising_weight_only_moves_stable_to_candidate() -> None:
    units = [f"user-{i}" for i in range(5000)]
    previous = dict.fromkeys(units, "stable")
    for weight in (0, 100, 500, 1000, 2500, 5000, 9000, 10_000):
        plan = plan_for(weight)
        now = {u: choose_primary(plan, u, None, 0) for u in units}
        assert not [u for u in units if previous[u] == "candidate" and now[u] == "stable"]
        previous = now
    assert set(previous.values()) == {"candidate"}


@pytest.mark.parametrize("weight_bp", [100, 1000, 5000])
def test_sticky_split_passes_srm(weight_bp: int) -> None:
    plan = plan_for(weight_bp)
    n = 20_000
    hits = sum(
        choose_primary(plan, f"u{i}", None, 0) == "candidate"
        for i in range(n)
    )
    expected = [n * weight_bp / 10_000, n * (10_000 - weight_bp) / 10_000]
    assert chisquare([hits, n - hits], expected).pvalue > 0.001


def test_random_split_without_unit_passes_srm() -> None:
    plan = plan_for(2000)
    rng = random.Random(3)
    n = 20_000
    hits = sum(
        choose_primary(plan, None, None, int(rng.random() * 10_000)) == "candidate"
        for _ in range(n)
    )
    assert chisquare([hits, n - hits], [n * 0.2, n * 0.8]).pvalue > 0.001


def test_salt_change_reshuffles() -> None:
    units = [f"u{i}" for i in range(2000)]
    a = {u for u in units if bucket_of("salt-a", u) < 5000}
    b = {u for u in units if bucket_of("salt-b", u) < 5000}
    assert 0.3 < len(a & b) / len(a) < 0.7


def test_force_beats_segment_beats_hash() -> None:
    plan = plan_for(
        0,
        shadows=[{"name": "shadow-a", "backends": ["127.0.0.1:3"]}],
        overrides={"header": "x-force", "segments": [
            {"name": "beta", "variant": "candidate", "units": ["alice"]}]},
    )
    assert choose_primary(plan, "alice", None, 0) == "candidate"
    assert choose_primary(plan, "bob", None, 0) == "stable"
    assert choose_primary(plan, "alice", "stable", 0) == "stable"
    assert choose_primary(plan, "bob", "shadow-a", 0) == "shadow-a"
    assert choose_primary(plan, "bob", "nonsense", 0) == "stable"


def test_mirrors_skip_the_primary_and_honour_fractions() -> None:
    plan = plan_for(
        0, shadows=[{"name": "shadow-a", "backends": ["127.0.0.1:3"], "mirrorBp": 5000}],
    )
    candidate_mirrored = compile_plan(parse_table({
        "version": 1, "salt": "s", "stable": {"backends": ["127.0.0.1:1"]},
        "candidate": {"backends": ["127.0.0.1:2"], "mirrorBp": 10_000},
    }))
    assert choose_mirrors(plan, "stable", [4999]) == ["shadow-a"]
    assert choose_mirrors(plan, "stable", [5000]) == []
    assert choose_mirrors(candidate_mirrored, "stable", [0]) == ["candidate"]
    assert choose_mirrors(candidate_mirrored, "candidate", [0]) == []


def test_cookie_value() -> None:
    header = 'theme=dark; uid="u-42" ;  force=candidate'
    assert cookie_value(header, "uid") == "u-42"
    assert cookie_value(header, "force") == "candidate"
    assert cookie_value(header, "missing") is None
    assert cookie_value("garbage", "uid") is None
