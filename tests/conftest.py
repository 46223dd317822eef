"""Suite-wide rules: every test carries exactly one of the markers unit, integration, e2e."""

from __future__ import annotations

import pytest

LEVELS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        levels = [m.name for m in item.iter_markers() if m.name in LEVELS]
        if len(set(levels)) != 1:
            raise pytest.UsageError(
                f"{item.nodeid} must carry exactly one of the markers {LEVELS}, has {levels}"
            )
