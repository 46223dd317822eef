"""Fault-injection decisions: off by default, rate matches the fraction (pure)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping

import pytest
from scipy.stats import binomtest

from controller.contract.table import CANDIDATE, FaultSpec, TableError, parse_table
from controller.router.assign import compile_plan
from controller.router.faults import action_for, choose_fault, in_scope, scope_for
from controller.router.proxy import ProxySettings, Router
from controller.router.targets import build_targets
from controller.router.telemetry import RouterMetrics, Telemetry
from controller.router.upstream import PoolSet
from controller.router.wire import Request

pytestmark = pytest.mark.unit


def test_off_unless_asked() -> None:
    assert action_for(FaultSpec()) is None
    assert action_for(FaultSpec(fraction_bp=5000)) is None  # a fraction with no effect
    assert action_for(FaultSpec(added_latency_ms=100)) is None  # an effect with no fraction


def test_action_kinds() -> None:
    action = action_for(FaultSpec(fraction_bp=1, added_latency_ms=250, error_status=503,
                                  corrupt_prediction=True))
    assert action is not None
    assert action.delay_s == 0.25
    assert action.kinds() == ["delay", "error", "corrupt"]


@pytest.mark.parametrize("fraction_bp", [0, 150, 2500, 10_000])
def test_rate_matches_fraction(fraction_bp: int) -> None:
    action = action_for(FaultSpec(fraction_bp=max(fraction_bp, 1), error_status=500))
    rng = random.Random(11)
    n = 20_000
    hits = sum(choose_fault(action, fraction_bp, int(rng.random() * 10_000)) is not None
               for _ in range(n))
    if fraction_bp in (0, 10_000):
        assert hits == n * fraction_bp // 10_000
    else:
        assert binomtest(hits, n, fraction_bp / 10_000).pvalue > 0.001


# --- bias faults: a selector confines the faults to a subpopulation --------------------------

def _scoped_table(faults: Mapping[str, object]) -> dict[str, object]:
    return {
        "version": 1, "salt": "s",
        "stable": {"backends": ["stable:80"]},
        "candidate": {"backends": ["candidate:80"], "weightBp": 10_000,
                      "faults": {"fractionBp": 10_000, "errorStatus": 503, **faults}},
        "sticky": {"header": "x-user-id"},
        "overrides": {"segments": [{"name": "beta", "variant": "candidate",
                                    "units": ["u1", "u2"]}]},
    }


def _faulted(faults: Mapping[str, object], requests: list[list[tuple[bytes, bytes]]]
             ) -> list[bool]:
    """Whether each request (its headers) draws the candidate's fault, through the Router."""
    async def run() -> list[bool]:
        table = parse_table(_scoped_table(faults))
        router = Router(Telemetry(RouterMetrics()),
                        ProxySettings(), rng=random.Random(3))
        router.use(compile_plan(table), build_targets(table, PoolSet()))
        assert router.plan is not None
        out = []
        for headers in requests:
            unit, _, value = router._identity(router.plan, Request(b"POST", b"/", headers, b"",
                                                                   True))
            out.append(router._draw_fault(router.targets[CANDIDATE], unit, value) is not None)
        return out

    return asyncio.run(run())


def test_a_segment_scoped_fault_hits_only_that_segments_units() -> None:
    got = _faulted({"segment": "beta"}, [[(b"x-user-id", b"u1")], [(b"x-user-id", b"u2")],
                                         [(b"x-user-id", b"u3")], []])
    assert got == [True, True, False, False]


def test_a_header_scoped_fault_hits_only_that_header_value() -> None:
    faults = {"header": {"name": "X-Cohort", "value": "eu"}}
    got = _faulted(faults, [[(b"x-cohort", b"eu")], [(b"x-cohort", b"us")], [],
                            [(b"x-user-id", b"u1"), (b"x-cohort", b" eu ")]])
    assert got == [True, False, False, True]


def test_a_hashed_fault_hits_a_sticky_fraction_of_units() -> None:
    units = [f"user-{i}" for i in range(4000)]
    requests = [[(b"x-user-id", unit.encode())] for unit in units]
    first = _faulted({"hashedFractionBp": 2500}, requests)
    assert first == _faulted({"hashedFractionBp": 2500}, requests), "sticky per unit"
    assert binomtest(sum(first), len(units), 0.25).pvalue > 0.001
    assert _faulted({"hashedFractionBp": 2500}, [[]]) == [False], "no unit id, no fault"


def test_an_unscoped_fault_hits_every_request() -> None:
    assert _faulted({}, [[(b"x-user-id", b"u3")], []]) == [True, True]


def test_the_table_refuses_two_selectors_and_an_unknown_segment() -> None:
    with pytest.raises(TableError, match="at most one"):
        parse_table(_scoped_table({"segment": "beta", "hashedFractionBp": 10}))
    with pytest.raises(TableError, match="no overrides segment 'gamma'"):
        parse_table(_scoped_table({"segment": "gamma"}))


def test_scope_for_is_none_without_a_selector() -> None:
    table = parse_table(_scoped_table({}))
    assert scope_for(table.candidate.faults if table.candidate else FaultSpec(), table) is None
    scoped = parse_table(_scoped_table({"segment": "beta"}))
    assert scoped.candidate is not None
    scope = scope_for(scoped.candidate.faults, scoped)
    assert scope is not None
    assert scope.units == frozenset({"u1", "u2"})
    assert in_scope(scope, "u1", None)
    assert not in_scope(scope, None, None)
