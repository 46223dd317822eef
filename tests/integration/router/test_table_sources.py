"""Table sources end to end: admin PUT, file watch, invalid tables kept out."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from controller.router.service import RouterService
from controller.router.settings import RouterSettings
from controller.router.source import FileTableSource
from tests.integration.router.backends import label_backend
from tests.integration.router.harness import Harness, LoopThread, table, wait_for

pytestmark = pytest.mark.integration


def test_invalid_table_is_rejected_and_last_good_kept(harness: Harness) -> None:
    a, b = harness.backend(label_backend("cat")), harness.backend(label_backend("dog"))
    assert harness.put_table(table(1, a.address, b.address, weight_bp=0))[0] == 200
    bad = table(2, a.address, b.address, weight_bp=10_000)
    bad["candidate"]["weightBp"] = 99.5
    status, answer = harness.put_table(bad)
    assert status == 422
    assert any(e.startswith("candidate.weightBp") for e in answer["errors"])
    stale = table(0, a.address, b.address, weight_bp=10_000)
    assert harness.put_table(stale)[0] == 422
    assert harness.request()[1]["x-model-variant"] == "stable"
    status, data = harness.admin("GET", "/table")
    assert json.loads(data)["version"] == 1
    assert harness.metric("modelrouter_table_rejected_total", reason="invalid") == 1
    assert harness.metric("modelrouter_table_rejected_total", reason="stale") == 1
    assert harness.metric("modelrouter_table_version") == 1


def test_no_table_means_503_and_not_ready(harness: Harness) -> None:
    status, _, body = harness.request()
    assert status == 503
    assert b"no routing table" in body
    assert harness.admin("GET", "/readyz")[0] == 503
    assert harness.admin("GET", "/healthz")[0] == 200
    assert harness.admin("GET", "/nope")[0] == 404


def test_file_source_applies_new_tables(tmp_path: Path) -> None:
    lt = LoopThread()
    path = tmp_path / "table.json"
    harness_for_backends = Harness()
    try:
        a = harness_for_backends.backend(label_backend("cat"))
        b = harness_for_backends.backend(label_backend("dog"))
        path.write_text(json.dumps(table(1, a.address, b.address, weight_bp=0)))
        service = RouterService(
            RouterSettings(host="127.0.0.1", port=0, admin_host="127.0.0.1", admin_port=0,
                         sources=[FileTableSource(path, interval_s=0.05)]),
            rng=random.Random(1),
        )
        lt.run(service.start())

        def version() -> float:
            return lt.call(lambda: service.metrics.table_version.get(()))

        wait_for(lambda: version() == 1, what="first table")
        path.write_text("{ broken")
        wait_for(lambda: lt.call(lambda: service.metrics.table_rejected.get(("invalid",))) == 1,
                 what="rejection")
        path.write_text(json.dumps(table(2, a.address, b.address, weight_bp=10_000)))
        wait_for(lambda: version() == 2, timeout_s=5.0, what="second table")
        lt.run(service.close())
    finally:
        harness_for_backends.close()
        lt.stop()
