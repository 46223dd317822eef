"""The real Prometheus fixture scrapes a loopback target; prometheus-api-client reads it."""

from __future__ import annotations

import pytest
from prometheus_api_client import PrometheusConnect

from tests.cluster.metrics_endpoint import MetricsEndpoint
from tests.cluster.prometheus import Prometheus
from tests.helpers import eventually

pytestmark = pytest.mark.integration


def test_prometheus_scrapes_per_variant_series(
    prometheus: Prometheus, metrics_endpoint: MetricsEndpoint
) -> None:
    metrics_endpoint.set('probe_requests_total{variant="stable"}', 120)
    metrics_endpoint.set('probe_requests_total{variant="candidate"}', 7)
    connection = PrometheusConnect(url=prometheus.url, disable_ssl=True)

    def by_variant() -> dict[str, float] | None:
        result = connection.custom_query("probe_requests_total")
        values = {r["metric"]["variant"]: float(r["value"][1]) for r in result}
        return values if values == {"stable": 120.0, "candidate": 7.0} else None

    assert eventually(by_variant, "both variants scraped", timeout=30)
