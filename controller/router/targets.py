"""A routing-table variant compiled for the request path, and fault-aware calls to it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

from controller.contract.jsonpath import Step, parse_path
from controller.contract.table import RoutingTable, split_address
from controller.router.comparator import corrupt
from controller.router.faults import FaultAction, FaultScope, action_for, scope_for
from controller.router.upstream import BackendPool, Done, PoolSet, Sink
from controller.router.wire import Headers, json_body

INJECTED_REASON = b"Injected Fault"


class Target:
    """Backends (round robin), header tails and fault settings of one variant."""

    def __init__(self, name: str, pools: list[BackendPool], host: bytes | None,
                 fault: FaultAction | None, fraction_bp: int,
                 steps: tuple[Step, ...] | None, mode: str,
                 fault_scope: FaultScope | None = None, model: str = "") -> None:
        self.name = name
        self.model = model
        self.name_bytes = name.encode()
        self.pools = pools
        self._next_pool: Iterator[BackendPool] = itertools.cycle(pools)
        self.host = host
        self.fault = fault
        self.fraction_bp = fraction_bp
        self.fault_scope = fault_scope
        self.steps = steps
        self.mode = mode
        self.live_tail = b"x-model-variant: " + self.name_bytes + b"\r\n"
        self.shadow_tail = self.live_tail + b"x-modelrouter-shadow: 1\r\n"
        self.response_tail = self.live_tail

    def pool(self) -> BackendPool:
        return next(self._next_pool)


def build_targets(table: RoutingTable, pools: PoolSet) -> dict[str, Target]:
    targets: dict[str, Target] = {}
    used: set[tuple[str, int]] = set()
    for name in table.variant_names():
        variant = table.variant(name)
        addresses = [split_address(a) for a in variant.backends]
        used.update(addresses)
        spec = variant.prediction
        targets[name] = Target(
            name=name,
            pools=[pools.get(host, port) for host, port in addresses],
            host=variant.host_header.encode() if variant.host_header else None,
            fault=action_for(variant.faults),
            fraction_bp=variant.faults.fraction_bp,
            steps=parse_path(spec.path) if spec else None,
            mode=spec.mode if spec else "exact",
            fault_scope=scope_for(variant.faults, table),
            model=variant.model,
        )
    pools.retain(used)
    return targets


def call_target(target: Target, data: bytes, head_only: bool, timeout_s: float,
                fault: FaultAction | None, done: Done, max_body: int,
                sink: Sink | None = None) -> None:
    """Send to the variant, applying an injected fault if this request drew one.  An answer
    over `max_body` bytes goes to `sink` as it arrives (dropped without one), uncorrupted."""
    if fault is None:
        target.pool().send(data, head_only, timeout_s, done, max_body, sink)
        return
    if fault.corrupt and target.steps is not None:
        done = _corrupting(done, target.steps, target.mode)
    if fault.delay_s:
        loop = asyncio.get_running_loop()
        loop.call_later(fault.delay_s, _after_delay, target, data, head_only, timeout_s, fault,
                        done, max_body, sink)
    else:
        _after_delay(target, data, head_only, timeout_s, fault, done, max_body, sink)


def _after_delay(target: Target, data: bytes, head_only: bool, timeout_s: float,
                 fault: FaultAction, done: Done, max_body: int, sink: Sink | None) -> None:
    if fault.error_status is not None:
        body = json_body({"error": "injected fault", "variant": target.name})
        done(fault.error_status, INJECTED_REASON, [(b"content-type", b"application/json")], body,
             "")
        return
    target.pool().send(data, head_only, timeout_s, done, max_body, sink)


def _corrupting(done: Done, steps: tuple[Step, ...], mode: str) -> Done:
    def wrapped(status: int, reason: bytes, headers: Headers, body: bytes, error: str) -> None:
        if not error and 200 <= status < 300:
            body = corrupt(body, steps, mode)
        done(status, reason, headers, body, error)

    return wrapped
