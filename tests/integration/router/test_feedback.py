"""Delayed labels joined through prediction tokens (POST /feedback) on one router."""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from controller.contract.keyring import new_keyring, rotated_keyring
from controller.router.feedback import FeedbackSettings
from tests.integration.router.backends import label_backend
from tests.integration.router.harness import Harness, table, wait_for

pytestmark = pytest.mark.integration


class WallClock:
    """Real time plus an offset the test moves forward (days pass without waiting)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


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
    return response_headers["x-prediction-token"]


def claims(token: str) -> list[Any]:
    payload = token.split(".")[2]
    fields: list[Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return fields


def test_join_counts_correct_and_incorrect_per_variant_including_shadows(
    harness: Harness,
) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    harness.put_table(table(1, a.address, b.address, weight_bp=0, window="v2/step-0", shadows=[
        {"name": "shadow-a", "backends": [b.address], "prediction": {"path":
                                                                    "predictions[0].label"}}]))
    tokens = [predict(harness) for _ in range(4)]
    # a shadow that answered after the primary is in this replica's late store: wait for it
    wait_for(lambda: harness.metric("modelrouter_shadow_comparisons_total") == 4)
    for token, label in zip(tokens, ["cat", "cat", "cat", "dog"], strict=True):
        status, answer = send_feedback(harness, {"token": token, "label": label})
        assert status == 200
        assert answer["variant"] == "stable"
        assert answer["served"] == "v2/step-0"
    m = harness.metric
    assert m("modelrouter_feedback_total", variant="stable", result="correct",
             served="v2/step-0") == 3
    # Each label is counted in the unit bucket its token carries (unit-level accuracy).
    buckets = Counter(str(claims(token)[7]) for token in tokens)
    assert len(buckets) > 1  # requests without a unit id are spread over the buckets
    for bucket, count in buckets.items():
        assert m("modelrouter_feedback_total", variant="stable", unit_bucket=bucket) == count
    assert m("modelrouter_feedback_total", variant="stable", result="incorrect") == 1
    assert m("modelrouter_feedback_total", variant="shadow-a", result="correct") == 1
    assert m("modelrouter_feedback_total", variant="shadow-a", result="incorrect") == 3
    assert m("modelrouter_predictions_served_total", variant="stable", served="v2/step-0") == 4
    # Paired on the same requests: stable right and the shadow wrong three times (the
    # discordant pairs McNemar counts), both right never, both wrong never, the reverse once.
    paired = "modelrouter_shadow_paired_feedback_total"
    assert m(paired, variant="shadow-a", primary="correct", shadow="incorrect") == 3
    assert m(paired, variant="shadow-a", primary="incorrect", shadow="correct") == 1
    assert m(paired, variant="shadow-a", primary="correct", shadow="correct") == 0


def test_a_late_shadow_answer_is_joined_here_and_counted_unjoined_elsewhere() -> None:
    keys = tempfile_keyring()
    first = Harness(token_keys_file=str(keys))
    second = Harness(token_keys_file=str(keys))
    try:
        fast, slow = first.backend(label_backend("cat")), first.backend(label_backend("cat"),
                                                                        delay_s=1.0)
        for h in (first, second):
            h.put_table(table(1, fast.address, shadows=[
                {"name": "shadow-a", "backends": [slow.address],
                 "prediction": {"path": "predictions[0].label"}}]))
        here, there = predict(first), predict(first)
        assert claims(here)[9] == [["shadow-a", "?"]]  # it had not answered yet
        wait_for(lambda: first.metric("modelrouter_shadow_comparisons_total") == 2)
        assert send_feedback(first, {"token": here, "label": "cat"})[1]["results"] == {
            "stable": "correct", "shadow-a": "correct"}
        # another replica verifies the token, but never saw the shadow's answer
        assert send_feedback(second, {"token": there, "label": "cat"})[1]["results"] == {
            "stable": "correct"}
        assert second.metric("modelrouter_shadow_labels_unjoined_total", variant="shadow-a") == 1
        assert second.metric("modelrouter_feedback_total", variant="stable") == 1
    finally:
        first.close()
        second.close()
        keys.unlink()


def test_forged_tampered_replayed_and_expired_tokens_are_refused_and_counted() -> None:
    clock = WallClock()
    h = Harness(wall_clock=clock, feedback=FeedbackSettings(token_validity_s=86_400.0))
    try:
        h.put_table(table(1, h.backend(label_backend("cat")).address))
        token, old = predict(h), predict(h)
        assert send_feedback(h, {"token": token, "label": "cat"})[0] == 200
        wait_for(lambda: h.metric("modelrouter_limit_usage", setting="replay_filter_entries") == 1,
                 what="the replay filter's size")
        status, answer = send_feedback(h, {"token": token, "label": "dog"})
        assert (status, answer["reason"]) == (409, "replayed")
        tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        assert send_feedback(h, {"token": tampered, "label": "cat"})[1]["reason"] == (
            "bad_signature")
        head, _kid, payload, mac = token.split(".")
        guessed = ".".join((head, "local-00000000", payload, mac))
        assert send_feedback(h, {"token": guessed, "label": "cat"})[1]["reason"] == (
            "unknown_key")
        assert send_feedback(h, {"token": "v1.x.y.z", "label": "x"}, admin=True)[0] == 403
        clock.offset += 86_401.0  # a day and a second later
        status, answer = send_feedback(h, {"token": old, "label": "cat"})
        assert (status, answer["reason"]) == (410, "expired")
        m = h.metric
        for reason, count in (("replayed", 1), ("bad_signature", 1), ("unknown_key", 2),
                              ("expired", 1)):
            assert m("modelrouter_feedback_refused_total", reason=reason) == count, reason
        assert m("modelrouter_feedback_total") == 1  # only the genuine first label
        # every bound of the path is exported, with what it holds
        assert m("modelrouter_limit", setting="replay_filter_entries") == 1_000_000
        assert m("modelrouter_limit", setting="stored_response_bytes") == 1 << 20
        assert m("modelrouter_limit", setting="feedback_body_bytes") == 64 << 10
        # a day on, the counted id has expired from the filter: it holds nothing
        wait_for(lambda: m("modelrouter_limit_usage", setting="replay_filter_entries") == 0,
                 what="the replay filter emptied")
    finally:
        h.close()


def test_labels_days_late_are_joined_within_validity() -> None:
    clock = WallClock()
    h = Harness(wall_clock=clock)  # the default validity: 30 days
    try:
        h.put_table(table(1, h.backend(label_backend("cat")).address))
        token = predict(h)
        clock.offset += 29 * 86_400.0
        assert send_feedback(h, {"token": token, "label": "cat"})[0] == 200
        assert h.metric("modelrouter_limit", setting="token_validity_seconds") == 30 * 86_400
    finally:
        h.close()


def test_key_rotation_keeps_tokens_in_flight_valid_for_the_grace_period() -> None:
    clock = WallClock()
    keys = tempfile_keyring()
    h = Harness(wall_clock=clock, token_keys_file=str(keys))
    try:
        h.put_table(table(1, h.backend(label_backend("cat")).address))
        before = [predict(h) for _ in range(2)]
        assert claims(before[0])
        assert before[0].split(".")[1] == "k1"
        write_keyring(keys, rotated_keyring(json.loads(keys.read_text()), clock(), 3600.0))
        wait_for(lambda: predict(h).split(".")[1] == "k2", what="the rotated key in use")
        assert send_feedback(h, {"token": before[0], "label": "cat"})[0] == 200
        clock.offset += 3601.0  # the grace period is over
        status, answer = send_feedback(h, {"token": before[1], "label": "cat"})
        assert (status, answer["reason"]) == (403, "unknown_key")
        assert send_feedback(h, {"token": predict(h), "label": "cat"})[0] == 200
    finally:
        h.close()
        keys.unlink()


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "-5", "1e308", "1e400",
                                 '"a"', "true", "100000000000000000000000"])
def test_bad_rewards_are_400_naming_the_field_and_change_nothing(harness: Harness,
                                                                 bad: str) -> None:
    harness.put_table(table(1, harness.backend(label_backend("cat")).address))
    token = predict(harness)
    status, _, data = harness.request(path="/feedback",
                                      body=b'{"token": "%s", "reward": %s}' % (
                                          token.encode(), bad.encode()))
    assert status == 400
    assert b"reward" in data or b"body" in data
    assert harness.admin("GET", "/metrics")[0] == 200
    assert harness.metric("modelrouter_feedback_reward_sum") == 0
    # the token was not spent by the refused body
    assert send_feedback(harness, {"token": token, "reward": 2.5})[0] == 200
    assert harness.metric("modelrouter_feedback_reward_sum", variant="stable") == 2.5
    assert harness.metric("modelrouter_feedback_rewards_total", variant="stable") == 1


def test_bad_feedback_bodies(harness: Harness) -> None:
    harness.put_table(table(1, harness.backend(label_backend("cat")).address))
    token = predict(harness)
    for bad in [{"label": "x"}, {"token": token}, {"token": token, "label": [1]}, [],
                {"predictionId": "abc", "label": "x"}]:
        status, answer = send_feedback(harness, bad)
        assert status == 400
        assert "error" in answer
    status, _, data = harness.request(path="/feedback", body=b"{oops")
    assert status == 400
    assert b"JSON" in data
    status, _, _ = harness.request(path="/feedback", body=b'{"token": "' + b"x" * 70_000 + b'"}')
    assert status == 413


def test_forced_and_segment_traffic_is_served_but_kept_out_of_the_experiment(
        harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    harness.put_table(table(1, a.address, b.address, weight_bp=0, overrides={
        "header": "x-force-variant",
        "segments": [{"name": "qa", "variant": "candidate", "units": ["qa-user"]}]}))
    forced = predict(harness, **{"x-force-variant": "candidate"})
    pinned = predict(harness, **{"x-user-id": "qa-user"})
    normal = predict(harness, **{"x-user-id": "someone"})
    assert [claims(t)[6] for t in (forced, pinned, normal)] == ["forced", "segment",
                                                               "experiment"]
    for token in (forced, pinned, normal):
        assert send_feedback(harness, {"token": token, "label": "dog"})[0] == 200
    m = harness.metric
    wait_for(lambda: m("modelrouter_override_requests_total") == 2)
    assert m("modelrouter_override_requests_total", variant="candidate", assignment="forced",
             code="2xx") == 1
    assert m("modelrouter_override_requests_total", variant="candidate",
             assignment="segment") == 1
    assert m("modelrouter_requests_total", variant="candidate") == 0  # nor in the SRM check
    assert m("modelrouter_requests_total", variant="stable") == 1
    assert m("modelrouter_feedback_total", variant="candidate") == 0
    assert m("modelrouter_override_feedback_total", variant="candidate", result="correct") == 2
    assert m("modelrouter_feedback_total", variant="stable", result="incorrect") == 1


def tempfile_keyring() -> Path:
    handle, name = tempfile.mkstemp(prefix="router-keys-", suffix=".json")
    path = Path(name)
    os.close(handle)
    write_keyring(path, new_keyring())
    return path


def write_keyring(path: Path, ring: dict[str, object]) -> None:
    """Replace the file at once, as a Secret volume update does (a new inode)."""
    staged = path.with_suffix(".new")
    staged.write_text(json.dumps(ring))
    staged.replace(path)
