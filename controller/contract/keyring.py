"""The key ring of prediction tokens: the operator writes it into a Secret, every router
replica reads it (the format is the contract between them):

    {"current": {"id": "k2", "key": "<base64url, >= 32 bytes>"},
     "previous": {"id": "k1", "key": "...", "acceptUntil": <unix seconds>}}

Tokens are signed with `current`; `previous` stays accepted until `acceptUntil`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Mapping

MIN_SIGNING_KEY_BYTES = 32
MAX_KEYRING_BYTES = 16 << 10
_KEY_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _key_entry(entry: object, name: str) -> tuple[str, bytes]:
    if not isinstance(entry, dict):
        raise ValueError(f"{name} must be an object")
    key_id, text = entry.get("id"), entry.get("key")
    if not isinstance(key_id, str) or not 0 < len(key_id) <= 32 or set(key_id) - _KEY_ID_CHARS:
        raise ValueError(f"{name}.id must be 1-32 letters, digits, '-' or '_'")
    if not isinstance(text, str):
        raise ValueError(f"{name}.key must be a base64url string")
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raise ValueError(f"{name}.key must be base64url") from None
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise ValueError(f"{name}.key must hold at least {MIN_SIGNING_KEY_BYTES} bytes")
    return key_id, key


def parse_keyring(raw: bytes) -> tuple[tuple[str, bytes], tuple[str, bytes, float] | None]:
    """(current (id, key), previous (id, key, accept until) or None); ValueError naming the
    field otherwise."""
    if len(raw) > MAX_KEYRING_BYTES:
        raise ValueError(f"larger than {MAX_KEYRING_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError("not JSON") from None
    if not isinstance(doc, dict):
        raise ValueError("must be a JSON object")
    current = _key_entry(doc.get("current"), "current")
    found = doc.get("previous")
    if found is None:
        return current, None
    previous = _key_entry(found, "previous")
    until = found.get("acceptUntil") if isinstance(found, dict) else None
    if isinstance(until, bool) or not isinstance(until, int | float) or not math.isfinite(until):
        raise ValueError("previous.acceptUntil must be unix seconds")
    if previous[0] == current[0]:
        raise ValueError("previous.id must differ from current.id")
    return current, (previous[0], previous[1], float(until))


def new_keyring(key_id: str = "k1") -> dict[str, object]:
    """A fresh key ring (what the operator puts in the Secret)."""
    return {"current": {"id": key_id, "key": _new_key()}}


def rotated_keyring(keyring: Mapping[str, object], now: float, grace_s: float
                    ) -> dict[str, object]:
    """`keyring` with a new current key; the old one stays accepted for `grace_s`."""
    current = keyring["current"]
    if not isinstance(current, dict):
        raise ValueError("current must be an object")
    old_id = str(current["id"])
    number = int(old_id[1:]) + 1 if old_id[:1] == "k" and old_id[1:].isdigit() else 1
    return {"current": {"id": f"k{number}", "key": _new_key()},
            "previous": {"id": old_id, "key": current["key"], "acceptUntil": int(now + grace_s)}}


def _new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(MIN_SIGNING_KEY_BYTES)).rstrip(b"=").decode()
