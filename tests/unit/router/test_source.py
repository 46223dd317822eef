"""The file table source: change detection and rejection of bad documents (pure, tmp files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.contract.table import RoutingTable
from controller.router.source import FileTableSource, TableHolder

pytestmark = pytest.mark.unit


def doc(version: int) -> str:
    return json.dumps({"version": version, "salt": "s",
                       "stable": {"backends": ["127.0.0.1:9"]}})


def test_file_source_applies_changes_and_keeps_last_good(tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    applied: list[RoutingTable] = []
    rejected: list[str] = []
    holder = TableHolder(applied.append, rejected.append)
    source = FileTableSource(path)
    assert source.poll(holder) is False  # no file yet
    path.write_text(doc(1))
    assert source.poll(holder) is True
    assert source.poll(holder) is False  # unchanged
    path.write_text("version: [")  # neither JSON nor YAML
    assert source.poll(holder) is True
    path.write_text("- a list\n")
    source.poll(holder)
    path.write_text(doc(2) + "\n")
    source.poll(holder)
    assert [t.version for t in applied] == [1, 2]
    assert rejected == ["invalid", "invalid"]
    assert holder.current is not None
    assert holder.current.version == 2
