"""Fault-injection decisions (pure): off unless the table sets a fraction."""

from __future__ import annotations

from dataclasses import dataclass

from controller.contract.table import BASIS_POINTS, FaultSpec, RoutingTable
from controller.router.assign import planout_hash

FAULT_PARAM = "fault"  # the hash of the unit for hashedFractionBp, apart from the split's


@dataclass(frozen=True, slots=True)
class FaultAction:
    delay_s: float
    error_status: int | None
    corrupt: bool

    def kinds(self) -> list[str]:
        """Metric label values for the effects applied."""
        out = []
        if self.delay_s:
            out.append("delay")
        if self.error_status is not None:
            out.append("error")
        if self.corrupt:
            out.append("corrupt")
        return out


def action_for(spec: FaultSpec) -> FaultAction | None:
    """The effect a faulted request gets, or None when the spec does nothing."""
    if not spec.fraction_bp:
        return None
    action = FaultAction(
        delay_s=spec.added_latency_ms / 1000.0,
        error_status=spec.error_status,
        corrupt=spec.corrupt_prediction,
    )
    return action if action.kinds() else None


def choose_fault(action: FaultAction | None, fraction_bp: int, draw_bp: int) -> FaultAction | None:
    """Apply `action` to this request when its draw in [0, 10000) falls under the fraction."""
    if action is None or draw_bp >= fraction_bp:
        return None
    return action


@dataclass(frozen=True, slots=True)
class FaultScope:
    """The subpopulation a variant's faults are confined to (a bias fault); one selector.
    Checking a request is O(1): a set lookup, a string compare or one hash."""

    units: frozenset[str] | None = None  # a segment's units
    header: bytes | None = None  # lower-case header name, matched with `header_value`
    header_value: str = ""
    hashed_bp: int = 0  # units whose fault hash falls under it
    salt: str = ""


def scope_for(spec: FaultSpec, table: RoutingTable) -> FaultScope | None:
    """The scope of `spec`, or None when it touches every request."""
    if spec.segment is not None:
        units: frozenset[str] = frozenset()
        for segment in table.overrides.segments:
            if segment.name == spec.segment:
                units = frozenset(segment.units)
        return FaultScope(units=units)
    if spec.header is not None:
        return FaultScope(header=spec.header.name.encode(), header_value=spec.header.value)
    if spec.hashed_fraction_bp is not None:
        return FaultScope(hashed_bp=spec.hashed_fraction_bp, salt=table.salt)
    return None


def in_scope(scope: FaultScope | None, unit: str | None, header_value: str | None) -> bool:
    """Whether a request (its unit id and the value of the scope's header) may be faulted."""
    if scope is None:
        return True
    if scope.units is not None:
        return unit is not None and unit in scope.units
    if scope.header is not None:
        return header_value is not None and header_value == scope.header_value
    if unit is None:
        return False
    return planout_hash(scope.salt, FAULT_PARAM, unit) % BASIS_POINTS < scope.hashed_bp
