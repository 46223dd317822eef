"""Fault-injection decisions (pure): off unless the table sets a fraction."""

from __future__ import annotations

from dataclasses import dataclass

from controller.contract.table import FaultSpec


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
