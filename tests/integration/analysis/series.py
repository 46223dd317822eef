"""Router-named series on the shared MetricsEndpoint, isolated by a per-test `run` label,
and the waits that make a window of real Prometheus data around a change of them."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from controller.analysis.provider import Window
from controller.contract.metrics import LATENCY_BUCKETS
from tests.cluster.metrics_endpoint import MetricsEndpoint
from tests.cluster.prometheus import Prometheus
from tests.helpers import eventually

VARIANTS = ("stable", "candidate")


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


class RouterSeries:
    """What a model router would export, per variant, under label run="<id>"."""

    def __init__(self, endpoint: MetricsEndpoint) -> None:
        self.endpoint = endpoint
        self.run = uuid.uuid4().hex[:10]

    @property
    def scope(self) -> str:
        return f'run="{self.run}"'

    def _set(self, name: str, value: float, **labels: str) -> None:
        text = ",".join(f'{k}="{v}"' for k, v in {**labels, "run": self.run}.items())
        self.endpoint.set(f"{name}{{{text}}}", value)

    def requests(self, variant: str, ok: float, failed: float) -> None:
        self._set("modelrouter_requests_total", ok, variant=variant, code="2xx")
        self._set("modelrouter_requests_total", failed, variant=variant, code="5xx")

    def latency(self, variant: str, per_bucket: Mapping[float, float], total: float) -> None:
        """Non-cumulative counts per upper bound (+Inf included), exported cumulatively."""
        running = 0.0
        for bound in (*LATENCY_BUCKETS, math.inf):
            running += per_bucket.get(bound, 0.0)
            self._set("modelrouter_request_duration_seconds_bucket", running, variant=variant,
                      le=_le(bound))
        self._set("modelrouter_request_duration_seconds_sum", total, variant=variant)
        self._set("modelrouter_request_duration_seconds_count", running, variant=variant)

    def comparisons(self, variant: str, agree: float, disagree: float) -> None:
        self._set("modelrouter_shadow_comparisons_total", agree, variant=variant,
                  result="agree")
        self._set("modelrouter_shadow_comparisons_total", disagree, variant=variant,
                  result="disagree")

    def feedback(self, variant: str, correct: float, incorrect: float) -> None:
        self._set("modelrouter_feedback_total", correct, variant=variant, result="correct")
        self._set("modelrouter_feedback_total", incorrect, variant=variant,
                  result="incorrect")

    def zero(self) -> None:
        for variant in VARIANTS:
            self.requests(variant, 0, 0)
            self.latency(variant, {}, 0)
            self.comparisons(variant, 0, 0)
            self.feedback(variant, 0, 0)


def _probe(prometheus: Prometheus, series: RouterSeries) -> tuple[float, float] | None:
    """(timestamp, value) of the latest scrape of the stable 2xx counter."""
    selector = (f'modelrouter_requests_total{{variant="stable",code="2xx",'
                f'{series.scope}}}')
    result = prometheus.query(f"timestamp({selector})")
    values = prometheus.query(selector)
    if not result or not values:
        return None
    stamp = float(result[0]["value"][1])  # type: ignore[index]
    value = float(values[0]["value"][1])  # type: ignore[index]
    return stamp, value


def scraped_after(prometheus: Prometheus, series: RouterSeries, moment: float,
                  value: float | None = None) -> None:
    """Wait until Prometheus holds a scrape newer than `moment` (with `value`, if given)."""
    def done() -> bool:
        seen = _probe(prometheus, series)
        return seen is not None and seen[0] > moment and (value is None or seen[1] == value)

    eventually(done, f"a scrape of run {series.run} after {moment}", timeout=30)


def window_around(prometheus: Prometheus, series: RouterSeries, change: Callable[[], None],
                  stable_ok: float) -> Window:
    """Zeros scraped inside the window, then `change` applied and scraped: the window's
    increase() is the change (scaled by Prometheus' extrapolation to the window's end)."""
    series.zero()
    scraped_after(prometheus, series, 0.0, 0.0)
    start = datetime.now(UTC)
    # Two zero scrapes inside the window, even after it is cut to whole seconds.
    scraped_after(prometheus, series, start.timestamp() + 2.0, 0.0)
    change()
    scraped_after(prometheus, series, start.timestamp(), stable_ok)
    return Window(start, datetime.now(UTC))
