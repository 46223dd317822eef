"""Prediction tokens: what a delayed label needs to be joined, signed, in a response header.

The router returns `x-prediction-token` with every answered prediction. The token carries the
join itself (rollout, serving window, variant, model, how the variant was assigned, the unit
bucket, the compared prediction of the primary and of the shadows that answered in time, and
when it was served), authenticated with HMAC-SHA256 under a key every replica shares. So any
replica verifies and counts the label for any prediction, days later and after restarts,
without a store.

Wire form: ``v1.<key id>.<payload>.<mac>``, payload the base64url of a compact JSON array,
mac the first 16 bytes (128 bits) of HMAC-SHA256(key, "v1.<key id>.<payload>"), base64url.
Pure: the clock and keys are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from typing import Literal

from controller.router.comparator import as_number, label_text

VERSION = "v1"
MAC_BYTES = 16
MAX_TOKEN_CHARS = 4096
# A prediction as the token carries it (see `prediction_code`).
NO_RULE = ""  # the variant has no prediction rule: its labels are not judged
PENDING = "?"  # a shadow that had not answered when the primary did
MISSING = "!"  # no readable prediction: judged incorrect
EXACT_MAX_CHARS = 64  # longer exact predictions travel as a hash of their text
# How a unit reached its variant; only "experiment" counts in the experiment's metrics.
EXPERIMENT, FORCED, SEGMENT = "experiment", "forced", "segment"
ASSIGNMENTS = (EXPERIMENT, FORCED, SEGMENT)
LabelResult = Literal["correct", "incorrect"]


@dataclass(frozen=True, slots=True)
class Claims:
    token_id: str  # unique per prediction: the replay filter's key
    issued: int  # unix seconds, when the prediction was served
    rollout: str  # the routing table's experiment (namespace/name)
    window: str  # the serving window (candidate revision and step) at serving time
    variant: str
    model: str
    assignment: str  # EXPERIMENT, FORCED or SEGMENT
    unit_bucket: int  # hashed unit bucket, -1 without a unit id
    prediction: str  # prediction_code of the primary's answer
    shadows: tuple[tuple[str, str], ...]  # (shadow variant, prediction_code or PENDING)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed: str) -> str:
    return _b64(hmac.digest(key, signed.encode(), "sha256")[:MAC_BYTES])


def json_text(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def head_json(rollout: str, window: str, variant: str, model: str, assignment: str) -> str:
    """The claims every token of one variant and assignment shares, as JSON array items (the
    request path renders them once per table)."""
    return ",".join(json_text(text) for text in (rollout, window, variant, model, assignment))


def shadows_json(shadows: tuple[tuple[str, str], ...]) -> str:
    return json_text([list(pair) for pair in shadows])


def encode_parts(token_id: str, issued: int, head: str, unit_bucket: int, prediction: str,
                 shadows: str, key_id: str, key: bytes) -> str:
    """A token from pre-rendered parts (head_json, json_text(prediction), shadows_json): the
    same text `encode` makes, at a fraction of its cost on the request path."""
    payload = f'["{token_id}",{issued},{head},{unit_bucket},{prediction},{shadows}]'
    signed = f"{VERSION}.{key_id}.{_b64(payload.encode())}"
    return signed + "." + _mac(key, signed)


def encode(claims: Claims, key_id: str, key: bytes) -> str:
    head = head_json(claims.rollout, claims.window, claims.variant, claims.model,
                     claims.assignment)
    return encode_parts(json_text(claims.token_id)[1:-1], claims.issued, head, claims.unit_bucket,
                        json_text(claims.prediction), shadows_json(claims.shadows), key_id, key)


class TokenError(ValueError):
    """Why a token is refused; `reason` is the metric label (docs/router.md)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def verify(token: str, keys: dict[str, bytes]) -> Claims:
    """The claims of an authentic token signed with one of `keys` (key id -> key).

    Raises TokenError: "malformed" (not a token), "unknown_key" (a key id not accepted, or no
    longer), "bad_signature" (forged or altered). Expiry and replays are the caller's."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError("malformed", f"token longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise TokenError("malformed", "not a prediction token")
    key = keys.get(parts[1])
    if key is None:
        raise TokenError("unknown_key", "token signed with a key this router does not accept")
    signed = token[:len(token) - len(parts[3]) - 1]
    if not hmac.compare_digest(_mac(key, signed), parts[3]):
        raise TokenError("bad_signature", "token signature does not match")
    try:
        raw = json.loads(_unb64(parts[2]))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise TokenError("malformed", "token payload unreadable") from None
    return _claims(raw)


def _claims(raw: object) -> Claims:
    # Signed by a router, so well formed unless the versions disagree: checked all the same.
    if not isinstance(raw, list) or len(raw) != 10:
        raise TokenError("malformed", "token payload has the wrong shape")
    tid, issued, rollout, window, variant, model, assignment, bucket, prediction, shadows = raw
    texts = (tid, rollout, window, variant, model, assignment, prediction)
    if not all(isinstance(t, str) for t in texts) or not isinstance(shadows, list) or any(
            type(n) is not int for n in (issued, bucket)):
        raise TokenError("malformed", "token payload has the wrong types")
    pairs: list[tuple[str, str]] = []
    for pair in shadows:
        if not (isinstance(pair, list) and len(pair) == 2
                and isinstance(pair[0], str) and isinstance(pair[1], str)):
            raise TokenError("malformed", "token payload has the wrong types")
        pairs.append((pair[0], pair[1]))
    return Claims(str(tid), int(issued), str(rollout), str(window), str(variant), str(model),
                  str(assignment), int(bucket), str(prediction), tuple(pairs))


def exact_code(value: object) -> str:
    """An exact-mode prediction (or label) as a token carries it: the text, or its hash."""
    text = label_text(value)
    if len(text) <= EXACT_MAX_CHARS:
        return "=" + text
    return "#" + hashlib.sha256(text.encode()).hexdigest()[:32]


def prediction_code(value: object, mode: str, tolerance_ppm: int) -> str:
    """A readable prediction's code: exact text (or hash), or the number and tolerance."""
    if mode == "numeric":
        number = as_number(value)
        if number is None:
            return MISSING
        return f"~{number!r}@{tolerance_ppm}"
    return exact_code(value)


def judged(code: str, label: object) -> LabelResult | None:
    """correct/incorrect for a label against a prediction code; None when not judged."""
    if code in (NO_RULE, PENDING):
        return None
    if code == MISSING:
        return "incorrect"
    if code[0] == "~":
        number_text, _, tolerance_text = code[1:].partition("@")
        predicted, actual = as_number(number_text), as_number(label)
        ok = (predicted is not None and actual is not None and tolerance_text.isdigit()
              and math.isfinite(predicted)
              and abs(predicted - actual) * 1e6 <= int(tolerance_text))
        return "correct" if ok else "incorrect"
    return "correct" if exact_code(label) == code else "incorrect"
