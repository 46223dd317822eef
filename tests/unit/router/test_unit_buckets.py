"""The router's unit buckets: a bounded, stable hash of the unit, independent of its arm."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from controller.contract.metrics import MAX_UNIT_BUCKETS, UNIT_BUCKET_LABEL
from controller.router.assign import bucket_of, split, unit_bucket_of
from controller.router.settings import build_parser, settings_from
from controller.router.telemetry import RouterMetrics, Telemetry

pytestmark = pytest.mark.unit


def test_a_unit_always_gets_the_same_bucket_in_range() -> None:
    buckets = [unit_bucket_of("ns/name", f"user-{i}", 16) for i in range(2000)]
    assert buckets == [unit_bucket_of("ns/name", f"user-{i}", 16) for i in range(2000)]
    assert set(buckets) == set(range(16))


def test_unit_buckets_are_independent_of_the_arm() -> None:
    """Chi-square of arm x bucket over 40000 units at a 20% canary: no association (the
    bucket hash has its own parameter salt)."""
    table = np.zeros((2, 16))
    for i in range(40_000):
        unit = f"u{i}"
        arm = split(bucket_of("ns/name", unit), 2000) == "candidate"
        table[int(arm), unit_bucket_of("ns/name", unit, 16)] += 1
    assert table[1].sum() / table.sum() == pytest.approx(0.2, abs=0.01)
    assert sps.chi2_contingency(table).pvalue > 0.001


@pytest.mark.parametrize("value", ["0", "1", str(MAX_UNIT_BUCKETS + 1), "-3", "abc", "1e3", ""])
def test_unit_buckets_flag_is_bounded(value: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--unit-buckets", value])


def test_unit_buckets_flag_reaches_the_proxy_settings() -> None:
    assert settings_from(build_parser().parse_args(["--unit-buckets", "32"])).proxy \
        .unit_buckets == 32


def test_requests_and_latency_are_exported_per_unit_bucket() -> None:
    telemetry = Telemetry(RouterMetrics())
    telemetry.live += [("candidate", 200, 0.02, "", b"{}", "id1", 0.0, "3"),
                       ("candidate", 503, 0.02, "", b"{}", "id2", 0.0, "3")]
    telemetry.flush()
    text = telemetry.metrics.registry.render().decode()
    assert (f'modelrouter_requests_total{{variant="candidate",code="2xx",'
            f'{UNIT_BUCKET_LABEL}="3"}} 1') in text
    assert (f'modelrouter_request_duration_seconds_count{{variant="candidate",'
            f'{UNIT_BUCKET_LABEL}="3"}} 2') in text
