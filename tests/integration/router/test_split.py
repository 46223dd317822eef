"""Weighted sticky split through the real proxy: SRM, stickiness, monotone moves, overrides."""

from __future__ import annotations

import pytest
from scipy.stats import chisquare

from tests.integration.router.backends import label_backend
from tests.integration.router.harness import Harness, table

pytestmark = pytest.mark.integration


def variant_of(h: Harness, headers: dict[str, str]) -> str:
    status, response_headers, _ = h.request(headers=headers)
    assert status == 200
    return response_headers["x-model-variant"]


def test_observed_split_passes_srm(harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    assert harness.put_table(table(1, a.address, b.address, weight_bp=3000))[0] == 200
    n = 1500
    seen = [variant_of(harness, {"x-user-id": f"user-{i}"}) for i in range(n)]
    hits = seen.count("candidate")
    assert chisquare([hits, n - hits], [n * 0.3, n * 0.7]).pvalue > 0.001
    # the router's own counters agree with what clients saw
    assert harness.metric("modelrouter_requests_total", variant="candidate") == hits


def test_requests_without_unit_split_randomly_by_weight(harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    harness.put_table(table(1, a.address, b.address, weight_bp=5000))
    n = 600
    hits = [variant_of(harness, {}) for _ in range(n)].count("candidate")
    assert chisquare([hits, n - hits], [n / 2, n / 2]).pvalue > 0.001


def test_units_stick_and_only_move_forward_as_weight_rises(harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    units = [f"u{i}" for i in range(200)]
    history: dict[str, list[str]] = {u: [] for u in units}
    for version, weight in enumerate((500, 2000, 5000, 8000), start=1):
        assert harness.put_table(table(version, a.address, b.address, weight_bp=weight))[0] == 200
        for unit in units:
            first = variant_of(harness, {"x-user-id": unit})
            assert variant_of(harness, {"x-user-id": unit}) == first  # sticky within a version
            history[unit].append(first)
    for unit, path in history.items():
        if "candidate" in path:
            moved_at = path.index("candidate")
            assert set(path[moved_at:]) == {"candidate"}, (unit, path)


def test_sticky_cookie(harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    harness.put_table(table(1, a.address, b.address, weight_bp=5000,
                            sticky={"cookie": "uid"}))
    for i in range(30):
        cookie = {"cookie": f"theme=x; uid=user{i}"}
        assert variant_of(harness, cookie) == variant_of(harness, cookie)


def test_force_header_cookie_and_segments(harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    harness.put_table(table(
        1, a.address, b.address, weight_bp=0,
        overrides={"header": "x-force-variant", "cookie": "force",
                   "segments": [{"name": "beta", "variant": "candidate",
                                 "units": ["tester-1", "tester-2"]}]},
    ))
    assert variant_of(harness, {"x-user-id": "someone"}) == "stable"
    assert variant_of(harness, {"x-user-id": "tester-1"}) == "candidate"
    assert variant_of(harness, {"x-user-id": "tester-1", "x-force-variant": "stable"}) == "stable"
    assert variant_of(harness, {"x-force-variant": "candidate"}) == "candidate"
    assert variant_of(harness, {"cookie": "force=candidate"}) == "candidate"
    assert variant_of(harness, {"x-force-variant": "no-such"}) == "stable"
    _, _, body = harness.request(headers={"x-force-variant": "candidate"})
    assert b"dog" in body  # the candidate's backend really answered
