"""Where routing tables come from, and the gate every table passes through.

`TableHolder.offer` is the single entry: it validates, refuses stale or invalid tables (the
last good table stays in force, the refusal is logged and counted) and applies good ones.
A `TableSource` is anything with `async run(holder)`: the file watcher here (`--table-file`)
and the Kubernetes watch of the table ConfigMap, `ConfigMapTableSource` in
`controller.router.source_kube` (`--table-configmap`), which lives outside the hot-path
modules. The admin endpoint (PUT /table) offers its tables to the holder directly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from controller.contract.table import RoutingTable, TableError, check_successor, parse_table

log = logging.getLogger("modelrouter.table")


class TableSource(Protocol):
    async def run(self, holder: TableHolder) -> None: ...


class TableHolder:
    def __init__(
        self,
        apply: Callable[[RoutingTable], None],
        on_reject: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self._apply = apply
        self._on_reject = on_reject
        self.current: RoutingTable | None = None

    def offer(self, raw: Mapping[str, Any] | bytes | str, origin: str,
              new_lineage: bool = False) -> list[str]:
        """Apply a table; returns the field-named errors ([] when applied).

        `new_lineage`: the table comes from a new incarnation of its source (a ConfigMap
        deleted and created again), whose versions start over, so staleness is not checked.
        """
        try:
            table = parse_table(raw)
            if not new_lineage:
                check_successor(self.current, table)
        except TableError as exc:
            reason = "stale" if exc.errors and exc.errors[0].startswith("version:") else "invalid"
            self.reject(origin, reason, exc.errors)
            return exc.errors
        if table != self.current:
            self._apply(table)
            self.current = table
            log.info("routing table version %d applied from %s", table.version, origin)
        return []

    def reject(self, origin: str, reason: str, errors: list[str]) -> None:
        log.warning("routing table from %s rejected (%s): %s", origin, reason, "; ".join(errors))
        self._on_reject(reason)


def decode_document(text: bytes) -> Any:
    """JSON, or YAML (as a ConfigMap would carry it); errors become table errors."""
    try:
        return json.loads(text)
    except RecursionError:
        raise TableError(["(document): nested too deeply"]) from None
    except (ValueError, UnicodeDecodeError):
        pass
    import yaml  # only the file source needs YAML; keep it off the request path

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TableError([f"(document): neither JSON nor YAML: {exc}"]) from None


class FileTableSource:
    """Polls a file (cheap stat every `interval_s`) and offers it whenever it changes.

    Polling rather than inotify: it works on ConfigMap volumes (symlink swaps) and needs no
    dependency; 0.2 s keeps the 1 s apply budget.
    """

    def __init__(self, path: str | os.PathLike[str], interval_s: float = 0.2) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self._seen: tuple[int, int, int] | None = None
        self._last_text: bytes | None = None

    def poll(self, holder: TableHolder) -> bool:
        """Offer the file if it changed; True when something was offered."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return False
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._seen:
            return False
        self._seen = signature
        text = self.path.read_bytes()
        if text == self._last_text:
            return False
        self._last_text = text
        origin = f"file {self.path}"
        try:
            document = decode_document(text)
        except TableError as exc:
            holder.reject(origin, "invalid", exc.errors)
            return True
        if not isinstance(document, Mapping):
            holder.reject(origin, "invalid", ["(document): must be an object"])
            return True
        holder.offer(document, origin)
        return True

    async def run(self, holder: TableHolder) -> None:
        while True:
            try:
                self.poll(holder)
            except OSError as exc:
                log.warning("cannot read routing table %s: %s", self.path, exc)
            await asyncio.sleep(self.interval_s)
