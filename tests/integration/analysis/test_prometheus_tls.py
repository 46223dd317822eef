"""https Prometheus (self-signed, --web.config.file): verified against the rollout's caBundle
or the system trust store; a certificate that does not verify is a provider error, never a
crash nor an unverified answer; insecureSkipVerify is explicit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controller.analysis.provider import ProviderError
from controller.api.analysis import PrometheusSource
from controller.api.spec import ModelRolloutSpec
from controller.operator.kube import Kube
from controller.operator.trust import with_trusted_prometheus
from controller.providers.prometheus import TrustedSource, prometheus_provider
from tests.cluster.certificates import ServerCertificate, issue
from tests.cluster.metrics_endpoint import MetricsEndpoint
from tests.cluster.prometheus import Prometheus, start_prometheus
from tests.manifest_edits import valid_manifest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServerCertificate, Path]:
    """The server's certificate and another, unrelated CA."""
    directory = tmp_path_factory.mktemp("certificates")
    return issue(directory, "prometheus"), issue(directory, "other").ca


@pytest.fixture(scope="module")
def https_prometheus(tmp_path_factory: pytest.TempPathFactory, metrics_endpoint: MetricsEndpoint,
                     certificates: tuple[ServerCertificate, Path]) -> Iterator[Prometheus]:
    server = certificates[0]
    instance = start_prometheus(tmp_path_factory.mktemp("https-prometheus"),
                                [metrics_endpoint.target], tls=server)
    try:
        yield instance
    finally:
        instance.stop()


def up(source: PrometheusSource) -> list[dict[str, str]]:
    return prometheus_provider(source).series("up", datetime.now(UTC))


def source(address: str, **fields: Any) -> PrometheusSource:
    return PrometheusSource.model_validate({"address": address, **fields})


_BUNDLE = {"caBundle": {"configMapKeyRef": {"name": "prometheus-ca", "key": "ca.crt"}}}


def test_the_right_ca_verifies(https_prometheus: Prometheus,
                               certificates: tuple[ServerCertificate, Path]) -> None:
    pem = certificates[0].ca.read_text()
    trusted = TrustedSource.model_validate({"address": https_prometheus.url, **_BUNDLE,
                                            "ca_pem": pem})
    assert up(trusted)


@pytest.mark.parametrize("ca", ["other", "system"])
def test_an_unverified_server_is_a_provider_error(
    https_prometheus: Prometheus, certificates: tuple[ServerCertificate, Path], ca: str
) -> None:
    if ca == "other":
        plain: PrometheusSource = TrustedSource.model_validate({
            "address": https_prometheus.url, **_BUNDLE, "ca_pem": certificates[1].read_text()})
    else:
        plain = source(https_prometheus.url)  # the system trust store knows no test CA
    with pytest.raises(ProviderError) as raised:
        up(plain)
    assert raised.value.kind == "unreachable"
    assert "CERTIFICATE_VERIFY_FAILED" in raised.value.detail, raised.value.detail


def test_insecure_skip_verify_is_accepted(https_prometheus: Prometheus) -> None:
    assert up(source(https_prometheus.url, insecureSkipVerify=True))


def _spec(address: str) -> ModelRolloutSpec:
    spec = valid_manifest()["spec"]
    spec["analysis"]["prometheus"] = {"address": address, **_BUNDLE}
    return ModelRolloutSpec.model_validate(spec)


def test_the_operator_reads_the_ca_from_the_configmap(
    api: client.ApiClient, namespace: str, https_prometheus: Prometheus,
    certificates: tuple[ServerCertificate, Path]
) -> None:
    spec = _spec(https_prometheus.url)
    missing = with_trusted_prometheus(spec, namespace, Kube(api))
    assert missing.analysis is not None
    with pytest.raises(ProviderError) as raised:
        up(missing.analysis.prometheus)
    assert "caBundle: ConfigMap prometheus-ca key ca.crt: no such ConfigMap" in \
        raised.value.detail
    client.CoreV1Api(api).create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="prometheus-ca"),
        data={"ca.crt": certificates[0].ca.read_text()}))
    resolved = with_trusted_prometheus(spec, namespace, Kube(api))
    assert resolved.analysis is not None
    assert up(resolved.analysis.prometheus)
