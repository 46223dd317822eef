"""The admin token: read from its file, re-read when it changes, and refused when unusable."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.router.credentials import MAX_TOKEN_BYTES, AdminToken

pytestmark = pytest.mark.unit
TOKEN = "a" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def token_in(tmp_path: Path, text: str | bytes) -> tuple[AdminToken, Path, Clock]:
    path = tmp_path / "token"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    clock = Clock()
    return AdminToken(str(path), clock), path, clock


def test_the_bearer_token_is_accepted_and_nothing_else(tmp_path: Path) -> None:
    token, _, _ = token_in(tmp_path, TOKEN + "\n")
    assert token.allows(f"Bearer {TOKEN}".encode())
    assert token.allows(f"bearer {TOKEN}".encode())
    for header in (None, b"", TOKEN.encode(), f"Basic {TOKEN}".encode(),
                   f"Bearer {TOKEN[:-1]}".encode(), f"Bearer {TOKEN}x".encode()):
        assert not token.allows(header), header


@pytest.mark.parametrize("text", ["", "short", "x" * 31, b"y" * (MAX_TOKEN_BYTES + 1)])
def test_an_unusable_token_refuses_everyone(tmp_path: Path, text: str | bytes) -> None:
    token, _, _ = token_in(tmp_path, text)
    shown = text.decode() if isinstance(text, bytes) else text
    assert not token.allows(f"Bearer {shown}".encode())


def test_no_file_refuses_everyone() -> None:
    assert not AdminToken(None).allows(f"Bearer {TOKEN}".encode())
    assert not AdminToken("/nonexistent/token").allows(f"Bearer {TOKEN}".encode())


def test_a_changed_file_is_read_again_after_a_second(tmp_path: Path) -> None:
    token, path, clock = token_in(tmp_path, TOKEN)
    assert token.allows(f"Bearer {TOKEN}".encode())
    new = "b" * 48
    path.write_text(new)
    assert token.allows(f"Bearer {TOKEN}".encode())  # not yet re-checked
    clock.now = 1.0
    assert token.allows(f"Bearer {new}".encode())
    assert not token.allows(f"Bearer {TOKEN}".encode())
    path.unlink()
    clock.now = 2.0
    assert not token.allows(f"Bearer {new}".encode())
