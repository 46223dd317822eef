"""Prediction tokens, the replay filter, the key ring and feedback validation (pure)."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pytest

from controller.contract.keyring import parse_keyring, rotated_keyring
from controller.router.credentials import SigningKeys
from controller.router.feedback import (
    FeedbackError,
    LateShadows,
    ReplayFilter,
    paired_outcomes,
    parse_feedback,
)
from controller.router.metrics import Counter, Gauge, Histogram, Registry
from controller.router.token import (
    EXPERIMENT,
    MISSING,
    PENDING,
    Claims,
    LabelResult,
    TokenError,
    encode,
    encode_parts,
    exact_code,
    head_json,
    json_text,
    judged,
    prediction_code,
    shadows_json,
    verify,
)

pytestmark = pytest.mark.unit

KEY = b"k" * 32
CLAIMS = Claims("abc1", 1_700_000_000, "ns/model", "v2/step-1", "candidate", "v2", EXPERIMENT,
                17, "=cat", (("shadow-a", "=dog"), ("shadow-b", PENDING)))


def test_a_token_round_trips_under_its_key() -> None:
    token = encode(CLAIMS, "k1", KEY)
    assert verify(token, {"k1": KEY}) == CLAIMS
    assert len(token) < 400  # one response header


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"), "bad_signature"),
    (lambda t: t.replace("k1", "k9", 1), "unknown_key"),
    (lambda t: "v2" + t[2:], "malformed"),
    (lambda t: t + ".x", "malformed"),
    (lambda t: "garbage", "malformed"),
    (lambda t: "v1.k1." + "A" * 5000, "malformed"),
])
def test_altered_or_foreign_tokens_are_refused(mutate: object, reason: str) -> None:
    token = encode(CLAIMS, "k1", KEY)
    assert callable(mutate)
    with pytest.raises(TokenError) as refused:
        verify(mutate(token), {"k1": KEY})
    assert refused.value.reason == reason


def test_a_payload_changed_to_another_variant_fails_the_mac() -> None:
    _, kid, payload, mac = encode(CLAIMS, "k1", KEY).split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields[4] = "stable"
    forged = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature"):
        verify(f"v1.{kid}.{forged}.{mac}", {"k1": KEY})
    # and a token made with another key is just as foreign
    with pytest.raises(TokenError, match="signature"):
        verify(encode(CLAIMS, "k1", b"x" * 32), {"k1": KEY})


def test_prediction_codes_judge_exact_hashed_and_numeric_predictions() -> None:
    assert judged(exact_code("cat"), "cat") == "correct"
    assert judged(exact_code("cat"), "dog") == "incorrect"
    long = "x" * 500
    assert exact_code(long).startswith("#")
    assert len(exact_code(long)) == 33
    assert judged(exact_code(long), long) == "correct"
    assert judged(exact_code(1), "1") == "correct"  # the label arrives as text
    numeric = prediction_code(0.8, "numeric", 50_000)
    assert judged(numeric, "0.84") == "correct"
    assert judged(numeric, "0.9") == "incorrect"
    assert judged(numeric, "nan") == "incorrect"
    assert prediction_code("nope", "numeric", 0) == MISSING
    assert judged(MISSING, "cat") == "incorrect"
    assert judged(PENDING, "cat") is None
    assert judged("", "cat") is None


def test_the_replay_filter_counts_each_token_once_and_forgets_expired_ones() -> None:
    replays = ReplayFilter(10, 100.0)
    assert replays.admit("a", 1000, 1000.0) is None
    assert replays.admit("a", 1000, 1050.0) == "replayed"
    assert replays.admit("b", 1000, 1050.0) is None
    replays.expire(1101.0)
    assert len(replays) == 0  # expired tokens are refused as expired before this filter


def test_a_full_replay_filter_refuses_old_tokens_rather_than_count_twice() -> None:
    replays = ReplayFilter(3, 1e9)
    for i, issued in enumerate((10, 20, 30)):
        assert replays.admit(f"t{i}", issued, 40.0) is None
    assert replays.admit("t3", 35, 40.0) is None  # evicts t0 (issued 10)
    assert len(replays) == 3
    assert replays.evicted == 1
    assert replays.admit("t0", 10, 40.0) == "replay_window"  # it may have been counted
    assert replays.admit("new-but-old", 5, 40.0) == "replay_window"
    assert replays.admit("t1", 20, 40.0) == "replayed"
    with pytest.raises(ValueError, match="max_entries"):
        ReplayFilter(0, 1.0)


def test_late_shadows_are_bounded_and_expire() -> None:
    late = LateShadows(2, 10.0)
    late.put("a", "shadow-a", "=cat", 0.0)
    late.put("a", "shadow-b", "=dog", 0.0)
    late.put("b", "shadow-a", "=cat", 1.0)
    late.put("c", "shadow-a", "=cat", 2.0)
    assert len(late) == 2
    assert late.evicted == 1
    assert late.take("a", "shadow-a", 2.0) is None
    assert late.take("b", "shadow-a", 5.0) == "=cat"
    assert late.take("b", "shadow-a", 12.0) is None
    late.expire(13.0)
    assert len(late) == 0


@pytest.mark.parametrize(("body", "field"), [
    (b'{"token": "t", "reward": NaN}', "body"),
    (b'{"token": "t", "reward": Infinity}', "body"),
    (b'{"token": "t", "reward": -Infinity}', "body"),
    (b'{"token": "t", "reward": 1e308}', "reward"),
    (b'{"token": "t", "reward": 1e400}', "reward"),
    (b'{"token": "t", "reward": -5}', "reward"),
    (b'{"token": "t", "reward": 10000000000000000000000}', "reward"),
    (b'{"token": "t", "reward": true}', "reward"),
    (b'{"token": "t", "reward": "3"}', "reward"),
    (b'{"token": "t", "label": NaN}', "body"),
    (b'{"token": "t", "label": [1]}', "label"),
    (b'{"token": "t"}', "label or reward"),
    (b'{"predictionId": "x", "label": "cat"}', "token"),
    (b'{"token": 5, "label": "cat"}', "token"),
    (b'[]', "body"),
    (b'{oops', "body"),
])
def test_bad_feedback_is_refused_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(FeedbackError, match=field):
        parse_feedback(body, 64, 1e12)


def test_good_feedback_parses() -> None:
    assert parse_feedback(b'{"token": "t", "label": 3, "reward": 2.5}', 64, 1e12) == (
        "t", "3", 2.5)
    assert parse_feedback(b'{"token": "t", "reward": 0}', 64, 1e12) == ("t", None, 0.0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e308, -5.0, 1e15, 2.5e-9])
def test_exposition_never_fails_on_any_value(value: float) -> None:
    registry = Registry()
    counter = registry.add(Counter("c_total", "c", ("v",)))
    gauge = registry.add(Gauge("g", "g"))
    histogram = registry.add(Histogram("h", "h", ("v",), (0.1, 1.0)))
    counter.inc(("a",), value)
    counter.inc(("a",), value)
    gauge.set((), value)
    histogram.observe(("a",), value)
    text = registry.render().decode()
    sample = text.split('c_total{v="a"} ')[1].split("\n")[0]
    parsed = float(sample.replace("+Inf", "inf").replace("-Inf", "-inf"))
    assert parsed == value * 2 or (math.isnan(parsed) and math.isnan(value))
    assert 'h_bucket{v="a",le="+Inf"} 1' in text


def test_key_rotation_keeps_the_old_key_for_the_grace_period() -> None:
    ring = {"current": {"id": "k1", "key": base64.urlsafe_b64encode(KEY).decode()}}
    rotated = rotated_keyring(ring, 1000.0, 60.0)
    current, previous = parse_keyring(json.dumps(rotated).encode())
    assert current[0] == "k2"
    assert current[1] != KEY
    assert previous == ("k1", KEY, 1060.0)


@pytest.mark.parametrize(("ring", "field"), [
    ({"current": {"id": "k1", "key": "c2hvcnQ"}}, "current.key"),
    ({"current": {"id": "k 1", "key": base64.b64encode(KEY).decode()}}, "current.id"),
    ({}, "current"),
    ({"current": {"id": "k1", "key": base64.b64encode(KEY).decode()},
      "previous": {"id": "k0", "key": base64.b64encode(KEY).decode()}}, "acceptUntil"),
])
def test_bad_key_rings_are_refused_naming_the_field(ring: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        parse_keyring(json.dumps(ring).encode())


def test_paired_outcomes_pair_each_shadow_with_its_primary() -> None:
    results: dict[str, LabelResult] = {"stable": "correct", "candidate": "incorrect",
                                       "sh1": "correct"}
    assert sorted(paired_outcomes("stable", results)) == [
        ("candidate", "correct", "incorrect"), ("sh1", "correct", "correct")]


def test_no_pairs_without_the_primary_judged() -> None:
    assert list(paired_outcomes("stable", {"candidate": "correct"})) == []


def test_signing_keys_follow_the_file_and_fall_back_to_a_local_key(tmp_path: Path) -> None:
    now = {"wall": 1000.0, "mono": 0.0}
    path = tmp_path / "keys.json"
    keys = SigningKeys(str(path), wall_clock=lambda: now["wall"], clock=lambda: now["mono"])
    assert keys.current[0].startswith("local-")  # no file yet: a key of this process
    ring = {"current": {"id": "k1", "key": base64.urlsafe_b64encode(KEY).decode()}}
    path.write_text(json.dumps(ring))
    now["mono"] += 1.0
    assert keys.accepted() == {"k1": KEY}
    path.write_text(json.dumps(rotated_keyring(ring, now["wall"], 60.0)))
    now["mono"] += 1.0
    assert sorted(keys.accepted()) == ["k1", "k2"]
    assert keys.current[0] == "k2"
    now["wall"] += 61.0
    assert sorted(keys.accepted()) == ["k2"]  # the grace period is over
    path.write_text("{not json")
    now["mono"] += 1.0
    keys.refresh()
    assert keys.current[0].startswith("local-")  # refused: never a half-read ring


def test_the_request_path_encoding_is_the_same_token() -> None:
    head = head_json(CLAIMS.rollout, CLAIMS.window, CLAIMS.variant, CLAIMS.model,
                     CLAIMS.assignment)
    fast = encode_parts(CLAIMS.token_id, CLAIMS.issued, head, CLAIMS.unit_bucket,
                        json_text(CLAIMS.prediction), shadows_json(CLAIMS.shadows), "k1", KEY)
    assert fast == encode(CLAIMS, "k1", KEY)
    odd = Claims("t", 1, 'ns/"x"', "w\\1", "stable", "m\u00e9", EXPERIMENT, -1, '="quoted"', ())
    assert verify(encode(odd, "k1", KEY), {"k1": KEY}) == odd
