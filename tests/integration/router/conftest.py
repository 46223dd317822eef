"""Router integration fixtures: real backends and a real router on 127.0.0.1 only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.router.harness import Harness, RouterProcess


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def process_router() -> Iterator[RouterProcess]:
    """The router in its own process, for per-process figures such as its memory."""
    router = RouterProcess()
    try:
        yield router
    finally:
        router.close()
