"""The router's credentials: the admin port's bearer token and the prediction-token keys,
each a file (a Secret the operator mounts).

The file is read again when it changes (checked at most once a second), so a rotated Secret
takes effect without a restart. Without a usable token every request that needs one is refused:
the admin API fails closed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("modelrouter.admin")
MIN_TOKEN_CHARS = 32
MAX_TOKEN_BYTES = 4096
RECHECK_SECONDS = 1.0
BEARER = b"bearer "


class AdminToken:
    def __init__(self, path: str | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._token: bytes | None = None
        self._signature: tuple[int, int, int] | None = None
        self._checked = -RECHECK_SECONDS
        if path is None:
            log.warning("no --admin-token-file: the admin API refuses /table")

    def current(self) -> bytes | None:
        now = self._clock()
        if self.path is not None and now - self._checked >= RECHECK_SECONDS:
            self._checked = now
            self._reload(self.path)
        return self._token

    def _reload(self, path: str) -> None:
        try:
            stat = os.stat(path)
            signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if signature == self._signature:
                return
            self._signature = signature
            with open(path, "rb") as file:
                raw = file.read(MAX_TOKEN_BYTES + 1)
        except OSError as error:
            self._token, self._signature = None, None
            log.warning("admin token file %s unreadable (%s): /table refused", path, error)
            return
        token = raw.strip()
        if len(raw) > MAX_TOKEN_BYTES or len(token) < MIN_TOKEN_CHARS:
            self._token = None
            log.warning("admin token in %s must be %d to %d bytes: /table refused", path,
                        MIN_TOKEN_CHARS, MAX_TOKEN_BYTES)
            return
        self._token = token

    def allows(self, authorization: bytes | None) -> bool:
        """Whether an `Authorization: Bearer <token>` header carries the current token."""
        token = self.current()
        if token is None or authorization is None:
            return False
        if authorization[:len(BEARER)].lower() != BEARER:
            return False
        return hmac.compare_digest(authorization[len(BEARER):].strip(), token)


# -- prediction-token signing keys -----------------------------------------------------------
MIN_SIGNING_KEY_BYTES = 32
MAX_KEYRING_BYTES = 16 << 10
_KEY_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class SigningKeys:
    """The HMAC keys of prediction tokens: a JSON file (the Secret the operator mounts)

        {"current": {"id": "k2", "key": "<base64url, >= 32 bytes>"},
         "previous": {"id": "k1", "key": "...", "acceptUntil": <unix seconds>}}

    Tokens are signed with `current`; `previous` is still accepted until `acceptUntil`, so a
    rotation keeps the tokens already handed out valid for that grace period. Re-read when the
    file changes. Without a file (or while it is unusable) a random key of this process signs:
    tokens then verify only on this replica, which is logged."""

    def __init__(self, path: str | None, wall_clock: Callable[[], float] = time.time,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._wall = wall_clock
        self._clock = clock
        self._signature: tuple[int, int, int] | None = None
        self._checked = -RECHECK_SECONDS
        self._own = ("local-" + os.urandom(4).hex(), os.urandom(32))
        self.current: tuple[str, bytes] = self._own
        self._previous: tuple[str, bytes, float] | None = None
        if path is None:
            log.warning("no --token-keys-file: prediction tokens verify only on this replica")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the file if it changed (at most once a second)."""
        now = self._clock()
        if self.path is None or now - self._checked < RECHECK_SECONDS:
            return
        self._checked = now
        try:
            stat = os.stat(self.path)
            signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if signature == self._signature:
                return
            with open(self.path, "rb") as file:
                raw = file.read(MAX_KEYRING_BYTES + 1)
            self._signature = signature
        except OSError as error:
            log.warning("token keys %s unreadable (%s): signing with a local key", self.path,
                        error)
            self._use_local()
            return
        try:
            self.current, self._previous = parse_keyring(raw)
        except ValueError as error:
            log.warning("token keys in %s refused (%s): signing with a local key", self.path,
                        error)
            self._use_local()

    def _use_local(self) -> None:
        self.current, self._previous, self._signature = self._own, None, None

    def accepted(self) -> dict[str, bytes]:
        """Key id -> key for every key a token may be signed with now."""
        self.refresh()
        keys = {self.current[0]: self.current[1]}
        previous = self._previous
        if previous is not None and self._wall() < previous[2]:
            keys[previous[0]] = previous[1]
        return keys


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
