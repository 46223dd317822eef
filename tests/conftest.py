"""Suite-wide rules: every test carries exactly one of the markers unit, integration, e2e."""

from __future__ import annotations

import os

import pytest

from tests.compiled_router import EXPECT_COMPILED_ENV

LEVELS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        levels = [m.name for m in item.iter_markers() if m.name in LEVELS]
        if len(set(levels)) != 1:
            raise pytest.UsageError(
                f"{item.nodeid} must carry exactly one of the markers {LEVELS}, has {levels}"
            )


def pytest_sessionstart(session: pytest.Session) -> None:
    """A run meant for the mypyc-compiled router must not quietly test the sources instead."""
    if os.environ.get(EXPECT_COMPILED_ENV) != "1":
        return
    import controller.router.proxy as proxy

    if not proxy.__file__ or not proxy.__file__.endswith(".so"):
        raise pytest.UsageError(
            f"{EXPECT_COMPILED_ENV}=1 but controller.router.proxy came from {proxy.__file__}"
        )
