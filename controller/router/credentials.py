"""The admin port's credential: a bearer token in a file (the Secret the operator mounts).

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
