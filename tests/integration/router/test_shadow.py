"""Shadow tee: agreement counts, a slow or dead shadow never holds up the primary, bounds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.router.proxy import ProxySettings
from tests.integration.router.backends import label_backend
from tests.integration.router.harness import Harness, table, wait_for

pytestmark = pytest.mark.integration
RULE = {"path": "predictions[0].label"}


def disagree_when_id_mod_10_below_3(method: str, path: str, headers: dict[str, str],
                                    body: bytes) -> tuple[int, Any]:
    item = json.loads(body)["id"]
    return 200, {"predictions": [{"label": "dog" if item % 10 < 3 else "cat"}]}


def shadow(address: str, **extra: Any) -> dict[str, Any]:
    return {"name": "shadow-a", "backends": [address], "mirrorBp": 10_000, "prediction": RULE,
            **extra}


def comparisons(h: Harness, result: str) -> float:
    return h.metric("modelrouter_shadow_comparisons_total", variant="shadow-a", result=result)


def test_agreement_counts_match_the_known_disagreement_rate(harness: Harness) -> None:
    primary = harness.backend(label_backend("cat"))
    other = harness.backend(disagree_when_id_mod_10_below_3)
    harness.put_table(table(1, primary.address, shadows=[shadow(other.address)]))
    n = 200
    for i in range(n):
        assert harness.request(body=json.dumps({"id": i}).encode())[0] == 200
    wait_for(lambda: comparisons(harness, "agree") + comparisons(harness, "disagree") == n,
             what="all comparisons")
    assert comparisons(harness, "disagree") == 60  # ids with id % 10 in {0, 1, 2}
    assert comparisons(harness, "agree") == 140
    assert comparisons(harness, "error") == 0
    # the copy is marked as a shadow for the model server
    assert all(r[2].get("x-modelrouter-shadow") == "1" for r in other.requests)


def test_slow_shadow_does_not_delay_the_primary() -> None:
    h = Harness(proxy=ProxySettings(shadow_timeout_s=60.0))
    try:
        primary = h.backend(label_backend("cat"))
        slow = h.backend(label_backend("cat"), delay_s=30.0)  # answers long after the test
        h.put_table(table(1, primary.address, shadows=[shadow(slow.address)]))
        for _ in range(20):
            assert h.request()[0] == 200
        # every primary answer arrived while no shadow answer had arrived yet
        assert h.metric("modelrouter_requests_total", variant="stable") == 20
        assert h.metric("modelrouter_shadow_comparisons_total") == 0
        wait_for(lambda: len(slow.requests) == 20, what="copies reached the slow shadow")
    finally:
        h.close()


def test_dead_shadow_counts_errors_and_primary_is_fine(harness: Harness) -> None:
    primary = harness.backend(label_backend("cat"))
    dead = harness.backend(label_backend("cat"))
    dead_address = dead.address
    harness.lt.run(dead.stop())  # nothing listens there any more
    harness.put_table(table(1, primary.address, shadows=[shadow(dead_address)]))
    for _ in range(10):
        assert harness.request()[0] == 200
    wait_for(lambda: comparisons(harness, "error") == 10, what="shadow errors")
    assert harness.metric("modelrouter_errors_total", variant="shadow-a", reason="connect") == 10


def test_shadow_timeout_is_its_own() -> None:
    h = Harness(proxy=ProxySettings(shadow_timeout_s=0.2, backend_timeout_s=30.0))
    try:
        primary = h.backend(label_backend("cat"))
        slow = h.backend(label_backend("cat"), delay_s=30.0)
        h.put_table(table(1, primary.address, shadows=[shadow(slow.address)]))
        for _ in range(3):
            assert h.request()[0] == 200
        wait_for(lambda: h.metric("modelrouter_errors_total", variant="shadow-a",
                                  reason="timeout") == 3, what="shadow timeouts")
    finally:
        h.close()


def test_in_flight_copies_are_bounded_and_drops_counted() -> None:
    h = Harness(proxy=ProxySettings(shadow_timeout_s=60.0, max_shadow_inflight=2))
    try:
        primary = h.backend(label_backend("cat"))
        stuck = h.backend(label_backend("cat"), delay_s=60.0)
        h.put_table(table(1, primary.address, shadows=[shadow(stuck.address)]))
        for _ in range(10):
            assert h.request()[0] == 200
        assert h.metric("modelrouter_shadow_dropped_total", variant="shadow-a") == 8
    finally:
        h.close()


def test_candidate_mirror_step(harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    doc = table(1, a.address, b.address, weight_bp=0)
    doc["candidate"]["mirrorBp"] = 10_000
    harness.put_table(doc)
    for i in range(10):
        _, headers, _ = harness.request(headers={"x-user-id": f"u{i}"})
        assert headers["x-model-variant"] == "stable"
    wait_for(lambda: harness.metric("modelrouter_shadow_comparisons_total", variant="candidate",
                                    result="disagree") == 10, what="candidate comparisons")
