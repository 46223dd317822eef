"""Delayed labels joined to stored predictions through POST /feedback."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.integration.router.harness import Harness, label_backend, table, wait_for

pytestmark = pytest.mark.integration


class ShiftedClock:
    """Real monotonic time plus an offset the test moves forward (TTL without waiting)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def send_feedback(h: Harness, payload: Any, admin: bool = False) -> tuple[int, Any]:
    body = json.dumps(payload).encode()
    if admin:
        status, data = h.admin("POST", "/feedback", body)
    else:
        status, _, data = h.request(path="/feedback", body=body)
    return status, json.loads(data)


def predict(h: Harness, **headers: str) -> str:
    status, response_headers, _ = h.request(headers=headers)
    assert status == 200
    return response_headers["x-prediction-id"]


def test_join_counts_correct_and_incorrect_per_variant_including_shadows(
    harness: Harness,
) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    harness.put_table(table(1, a.address, b.address, weight_bp=0, shadows=[
        {"name": "shadow-a", "backends": [b.address], "prediction": {"path":
                                                                    "predictions[0].label"}}]))
    ids = [predict(harness) for _ in range(4)]
    # the shadow's answer must be stored before its label arrives: wait for the comparisons
    wait_for(lambda: harness.metric("modelrouter_shadow_comparisons_total") == 4)
    for pid, label in zip(ids, ["cat", "cat", "cat", "dog"], strict=True):
        status, answer = send_feedback(harness, {"predictionId": pid, "label": label})
        assert status == 200
        assert answer["variant"] == "stable"
    assert harness.metric("modelrouter_feedback_total", variant="stable", result="correct") == 3
    assert harness.metric("modelrouter_feedback_total", variant="stable", result="incorrect") == 1
    assert harness.metric("modelrouter_feedback_total", variant="shadow-a", result="correct") == 1
    assert harness.metric("modelrouter_feedback_total", variant="shadow-a",
                          result="incorrect") == 3
    # Paired on the same requests: stable right and the shadow wrong three times (the
    # discordant pairs McNemar counts), both right never, both wrong never, the reverse once.
    paired = "modelrouter_shadow_paired_feedback_total"
    assert harness.metric(paired, variant="shadow-a", primary="correct",
                          shadow="incorrect") == 3
    assert harness.metric(paired, variant="shadow-a", primary="incorrect", shadow="correct") == 1
    assert harness.metric(paired, variant="shadow-a", primary="correct", shadow="correct") == 0


def test_unknown_and_repeated_ids_get_404(harness: Harness) -> None:
    a = harness.backend(label_backend("cat"))
    harness.put_table(table(1, a.address))
    pid = predict(harness)
    assert send_feedback(harness, {"predictionId": pid, "label": "cat"})[0] == 200
    status, answer = send_feedback(harness, {"predictionId": pid, "label": "cat"})
    assert status == 404
    assert answer["predictionId"] == pid
    assert send_feedback(harness, {"predictionId": "nope", "label": "x"}, admin=True)[0] == 404
    assert harness.metric("modelrouter_feedback_unknown_total") == 2


def test_expired_ids_get_404() -> None:
    clock = ShiftedClock()
    h = Harness(clock=clock, feedback_ttl_s=60.0)
    try:
        a = h.backend(label_backend("cat"))
        h.put_table(table(1, a.address))
        old, fresh = predict(h), None
        clock.offset += 61.0
        fresh = predict(h)
        assert send_feedback(h, {"predictionId": old, "label": "cat"})[0] == 404
        assert send_feedback(h, {"predictionId": fresh, "label": "cat"})[0] == 200
        assert h.metric("modelrouter_feedback_unknown_total") == 1
    finally:
        h.close()


def test_rewards_and_bad_feedback(harness: Harness) -> None:
    a = harness.backend(label_backend("cat"))
    harness.put_table(table(1, a.address))
    pid = predict(harness)
    assert send_feedback(harness, {"predictionId": pid, "reward": 2.5})[0] == 200
    assert harness.metric("modelrouter_feedback_reward_sum", variant="stable") == 2.5
    bad_payloads: list[Any] = [{"label": "x"}, {"predictionId": pid},
                               {"predictionId": pid, "reward": "a"}, []]
    for bad in bad_payloads:
        status, answer = send_feedback(harness, bad)
        assert status == 400
        assert "error" in answer
    status, _, data = harness.request(path="/feedback", body=b"{oops")
    assert status == 400
    assert b"JSON" in data
