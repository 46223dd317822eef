"""Assembly: the serving and admin servers, the table gate, timers and table sources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from controller.contract.table import RoutingTable
from controller.router.admin import AdminApp
from controller.router.assign import compile_plan
from controller.router.credentials import AdminToken, SigningKeys
from controller.router.feedback import LateShadows
from controller.router.join import LabelJoin
from controller.router.proxy import Router
from controller.router.server import App, HttpConnection
from controller.router.settings import RouterSettings
from controller.router.source import TableHolder
from controller.router.targets import build_targets
from controller.router.telemetry import RouterMetrics, Telemetry
from controller.router.upstream import PoolSet

log = logging.getLogger("modelrouter")
FLUSH_INTERVAL_S = 0.1
SWEEP_INTERVAL_S = 1.0


class RouterService:
    """Start with `await start()`; `port` and `admin_port` are the bound ports."""

    def __init__(self, config: RouterSettings, rng: random.Random | None = None,
                 clock: Callable[[], float] | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        """`clock` times requests; `wall_clock` stamps and checks prediction tokens (both
        injectable, so tests move time)."""
        self.config = config
        self._rng = rng
        self._clock = clock
        self._wall_clock = wall_clock
        self.port = 0
        self.admin_port = 0
        self._servers: list[asyncio.Server] = []
        self._tasks: list[asyncio.Task[None]] = []
        # Per listening port: served connections (bounded by max_connections), shed ones.
        self._registries: list[set[HttpConnection]] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        clock = self._clock or loop.time
        cfg = self.config
        self.metrics = RouterMetrics()
        fb = cfg.feedback
        late = LateShadows(fb.late_shadow_entries, fb.late_shadow_ttl_s)
        self.telemetry = Telemetry(self.metrics, late, self._wall_clock)
        self.join = LabelJoin(self.metrics.registry, fb,
                              SigningKeys(cfg.token_keys_file, self._wall_clock), late,
                              self._wall_clock)
        self.pools = PoolSet(cfg.max_idle_per_backend)
        self.router = Router(self.telemetry, cfg.proxy, self._rng, clock, self.join)
        self._show_bounds()
        self.holder = TableHolder(self._apply, self._count_rejection)
        self.admin = AdminApp(self.router, self.holder, self.telemetry,
                              AdminToken(cfg.admin_token_file), cfg.table_writes)
        serving = await self._listen(self.router, cfg.host, cfg.port)
        admin = await self._listen(self.admin, cfg.admin_host, cfg.admin_port)
        self.port = serving.sockets[0].getsockname()[1]
        self.admin_port = admin.sockets[0].getsockname()[1]
        self._tasks.append(loop.create_task(self._every(FLUSH_INTERVAL_S, self.telemetry.flush)))
        self._tasks.append(loop.create_task(self._every(SWEEP_INTERVAL_S, self.join.refresh)))
        self._tasks.append(loop.create_task(self._every(SWEEP_INTERVAL_S, self._sweep)))
        for source in cfg.sources:
            self._tasks.append(loop.create_task(source.run(self.holder)))
        log.info("serving on %s:%d, admin on %s:%d", cfg.host, self.port, cfg.admin_host,
                 self.admin_port)

    async def _listen(self, app: App, host: str, port: int) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        limits = self.config.limits
        conns: set[HttpConnection] = set()
        lingering: set[HttpConnection] = set()
        self._registries += (conns, lingering)
        server = await loop.create_server(
            lambda: HttpConnection(app, limits, conns, lingering), host, port, backlog=1024,
            reuse_address=True,
        )
        self._servers.append(server)
        return server

    def _apply(self, table: RoutingTable) -> None:
        targets = build_targets(table, self.pools)
        self.telemetry.use_table(table)
        self.router.use(compile_plan(table), targets)

    def _count_rejection(self, reason: str) -> None:
        self.metrics.table_rejected.inc((reason,))

    def _show_bounds(self) -> None:
        """The proxy's bounds on kept answers beside the join's (modelrouter_limit)."""
        proxy, m = self.config.proxy, self.join.metrics
        m.limit.set(("stored_response_bytes",), proxy.max_stored_response_bytes)
        m.limit.set(("shadow_inflight",), proxy.max_shadow_inflight)
        m.usage.set(("shadow_inflight",), self.router.shadow_inflight)

    def _sweep(self) -> None:
        self._show_bounds()
        now = time.monotonic()  # the clock HttpConnection stamps activity with
        for registry in self._registries:
            for conn in list(registry):
                conn.sweep(now)

    @staticmethod
    async def _every(interval_s: float, action: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                action()
            except Exception:  # keep the timer alive; the bug is in the log
                log.exception("periodic %s failed", getattr(action, "__name__", action))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for server in self._servers:
            server.close()
        for registry in self._registries:
            for conn in list(registry):
                if conn.transport is not None:
                    conn.transport.close()
        for server in self._servers:
            await server.wait_closed()
        self.pools.close()
