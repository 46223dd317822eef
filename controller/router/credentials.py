"""The router's credentials: the admin port's bearer token and the prediction-token keys,
each a file (a Secret the operator mounts).

The file is read again when it changes (checked at most once a second), so a rotated Secret
takes effect without a restart. Without a usable token every request that needs one is refused:
the admin API fails closed.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable

from controller.contract.keyring import parse_keyring

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
MAX_KEYRING_BYTES = 16 << 10


class SigningKeys:
    """The HMAC keys of prediction tokens: a key ring file (controller.contract.keyring; the
    Secret the operator mounts).

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
        self._problem: str | None = None
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
            self._signature = None  # read it again once it is back, whatever its stamp
            self._use_local(f"token keys {self.path} unreadable ({error})")
            return
        try:
            self.current, self._previous = parse_keyring(raw)
            self._problem = None
        except ValueError as error:  # kept refused until the file changes
            self._use_local(f"token keys in {self.path} refused ({error})")

    def _use_local(self, problem: str) -> None:
        self.current, self._previous = self._own, None
        if problem != self._problem:  # once per problem, not once a second
            self._problem = problem
            log.warning("%s: signing with a local key", problem)

    def accepted(self) -> dict[str, bytes]:
        """Key id -> key for every key a token may be signed with now."""
        self.refresh()
        keys = {self.current[0]: self.current[1]}
        previous = self._previous
        if previous is not None and self._wall() < previous[2]:
            keys[previous[0]] = previous[1]
        return keys
