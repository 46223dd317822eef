"""Settings are read once from the environment; a bad value is refused naming its variable."""

from __future__ import annotations

import ipaddress

import pytest
from kubernetes import client

from controller.analysis.analyzer import DEFAULT_MIN_WINDOW_SECONDS, DEFAULT_SCOPE
from controller.api.analysis import PrometheusSource
from controller.contract.metrics import DEFAULT_UNIT_BUCKETS
from controller.operator.handlers import build_reconciler
from controller.operator.settings import (
    DEFAULT_ROUTER_IMAGE,
    DEFAULT_ROUTER_RESOURCES,
    OperatorSettings,
    SettingsError,
)
from controller.plugin.settings import PluginSettings
from controller.providers.prometheus import PrometheusProvider
from controller.providers.prometheus_policy import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_TIMEOUT_SECONDS,
    PrometheusPolicy,
)

pytestmark = pytest.mark.unit


def test_defaults_without_any_variable() -> None:
    settings = OperatorSettings.from_env({})
    assert settings == OperatorSettings()
    assert settings.router.image == DEFAULT_ROUTER_IMAGE
    assert settings.router.service_account == ""  # a ServiceAccount per rollout
    assert settings.router.resources == DEFAULT_ROUTER_RESOURCES
    assert settings.router.unit_buckets == DEFAULT_UNIT_BUCKETS == 16
    assert DEFAULT_ROUTER_RESOURCES.wire() == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                               "limits": {"memory": "512Mi"}}
    assert (settings.prometheus_scope, settings.min_window_seconds) == (
        DEFAULT_SCOPE, DEFAULT_MIN_WINDOW_SECONDS)
    assert settings.metrics_address is None
    assert settings.prometheus == PrometheusPolicy(
        max_timeout_seconds=DEFAULT_MAX_TIMEOUT_SECONDS,
        max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES, allowed=(), denied=())
    assert (DEFAULT_MAX_TIMEOUT_SECONDS, DEFAULT_MAX_RESPONSE_BYTES) == (30, 8 * 1024 * 1024)


def test_every_variable_reaches_its_setting() -> None:
    settings = OperatorSettings.from_env({
        "MODELROLLOUT_ROUTER_IMAGE": "r/router:2", "MODELROLLOUT_ROUTER_SERVICE_ACCOUNT": "sa",
        "MODELROLLOUT_ADDRESSES": '{"abc": "127.0.0.1:9"}',
        "MODELROLLOUT_PROMETHEUS_SCOPE": 'job="x"', "MODELROLLOUT_MIN_WINDOW_SECONDS": "5",
        "MODELROLLOUT_METRICS_ADDRESS": "127.0.0.1:8081",
        "MODELROLLOUT_ROUTER_RESOURCES": '{"requests": {"cpu": "50m"}, "limits": {"cpu": "1"}}',
        "MODELROLLOUT_PROMETHEUS_MAX_TIMEOUT_SECONDS": "10",
        "MODELROLLOUT_PROMETHEUS_MAX_RESPONSE_BYTES": "1048576",
        "MODELROLLOUT_PROMETHEUS_ALLOWED": "prometheus.monitoring:9090, 10.0.0.0/8",
        "MODELROLLOUT_PROMETHEUS_DENIED": "169.254.0.0/16,10.96.0.1:443",
        "MODELROLLOUT_ROUTER_UNIT_BUCKETS": "32"})
    assert settings.router.image == "r/router:2"
    assert settings.router.unit_buckets == 32
    assert settings.router.resources.wire() == {"requests": {"cpu": "50m"},
                                                "limits": {"cpu": "1"}}
    assert settings.router.service_account == "sa"
    assert settings.router.address_overrides == {"abc": "127.0.0.1:9"}
    assert settings.prometheus_scope == 'job="x"'
    assert settings.min_window_seconds == 5
    assert settings.metrics_address == "127.0.0.1:8081"
    policy = settings.prometheus
    assert (policy.max_timeout_seconds, policy.max_response_bytes) == (10, 1048576)
    assert [r.text for r in policy.allowed] == ["prometheus.monitoring:9090", "10.0.0.0/8"]
    assert [r.text for r in policy.denied] == ["169.254.0.0/16", "10.96.0.1:443"]
    assert policy.refusal("x", 80, ipaddress.ip_address("169.254.169.254")) is not None


@pytest.mark.parametrize(("variable", "value"), [
    ("MODELROLLOUT_ADDRESSES", "{not json"),
    ("MODELROLLOUT_ADDRESSES", '["a"]'),
    ("MODELROLLOUT_ADDRESSES", '{"a": 1}'),
    ("MODELROLLOUT_MIN_WINDOW_SECONDS", "ten"),
    ("MODELROLLOUT_MIN_WINDOW_SECONDS", "0"),
    ("MODELROLLOUT_MIN_WINDOW_SECONDS", "-3"),
    ("MODELROLLOUT_ROUTER_RESOURCES", "{not json"),
    ("MODELROLLOUT_ROUTER_RESOURCES", '["100m"]'),
    ("MODELROLLOUT_ROUTER_RESOURCES", '{"requests": {"cpu": 0.5}}'),
    ("MODELROLLOUT_ROUTER_RESOURCES", '{"requests": {"memory": "lots"}}'),
    ("MODELROLLOUT_ROUTER_RESOURCES", '{"requests": {"gpu": "1"}}'),
    ("MODELROLLOUT_ROUTER_RESOURCES", '{"request": {"cpu": "1"}}'),
    ("MODELROLLOUT_ROUTER_RESOURCES",
     '{"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}}'),
    ("MODELROLLOUT_MIN_WINDOW_SECONDS", "\u00b2"),
    ("MODELROLLOUT_PROMETHEUS_MAX_TIMEOUT_SECONDS", "0"),
    ("MODELROLLOUT_PROMETHEUS_MAX_TIMEOUT_SECONDS", "2.5"),
    ("MODELROLLOUT_PROMETHEUS_MAX_TIMEOUT_SECONDS", "30s"),
    ("MODELROLLOUT_PROMETHEUS_MAX_RESPONSE_BYTES", "8Mi"),
    ("MODELROLLOUT_PROMETHEUS_MAX_RESPONSE_BYTES", "1023"),
    ("MODELROLLOUT_PROMETHEUS_MAX_RESPONSE_BYTES", "-1"),
    ("MODELROLLOUT_PROMETHEUS_ALLOWED", "10.0.0.1/8"),
    ("MODELROLLOUT_PROMETHEUS_ALLOWED", "http://prometheus:9090"),
    ("MODELROLLOUT_PROMETHEUS_ALLOWED", "prometheus:http"),
    ("MODELROLLOUT_PROMETHEUS_DENIED", "10.0.0.0/33"),
    ("MODELROLLOUT_PROMETHEUS_DENIED", "metadata server"),
    ("MODELROLLOUT_PROMETHEUS_DENIED", "[::1]"),
    ("MODELROLLOUT_ROUTER_UNIT_BUCKETS", "1"),
    ("MODELROLLOUT_ROUTER_UNIT_BUCKETS", "65"),
    ("MODELROLLOUT_ROUTER_UNIT_BUCKETS", "16.0"),
    ("MODELROLLOUT_ROUTER_UNIT_BUCKETS", "-4"),
])
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        OperatorSettings.from_env({variable: value})


def test_a_bad_router_resources_value_says_which_field() -> None:
    with pytest.raises(SettingsError, match=r"MODELROLLOUT_ROUTER_RESOURCES: requests\.memory"):
        OperatorSettings.from_env({"MODELROLLOUT_ROUTER_RESOURCES":
                                   '{"requests": {"memory": "1.5Gi"}}'})
    with pytest.raises(SettingsError, match=r"must not exceed limits\.cpu"):
        OperatorSettings.from_env({"MODELROLLOUT_ROUTER_RESOURCES":
                                   '{"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}'})


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("MODELROLLOUT_PROMETHEUS_MAX_RESPONSE_BYTES", "8Mi",
     "MODELROLLOUT_PROMETHEUS_MAX_RESPONSE_BYTES: must be a whole number of bytes >= 1024, "
     "got '8Mi'"),
    ("MODELROLLOUT_PROMETHEUS_DENIED", "169.254.0.0/16,10.0.0.1/8",
     "MODELROLLOUT_PROMETHEUS_DENIED: '10.0.0.1/8' is not a CIDR: 10.0.0.1/8 has host bits "
     "set (comma-separated host, host:port, IP, ip:port or CIDR entries)"),
    ("MODELROLLOUT_ROUTER_UNIT_BUCKETS", "100",
     "MODELROLLOUT_ROUTER_UNIT_BUCKETS: must be a whole number of unit buckets from 2 to 64, "
     "got '100'"),
])
def test_a_bad_value_is_explained(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        OperatorSettings.from_env({variable: value})
    assert str(raised.value) == message


def test_the_operator_gives_its_prometheus_limits_to_every_provider() -> None:
    settings = OperatorSettings.from_env({"MODELROLLOUT_PROMETHEUS_MAX_TIMEOUT_SECONDS": "4",
                                          "MODELROLLOUT_PROMETHEUS_DENIED": "10.0.0.0/8"})
    reconciler = build_reconciler(client.ApiClient(), settings)
    provider = reconciler.analyzer._provider(  # type: ignore[attr-defined]
        PrometheusSource(address="http://prometheus:9090", timeout_seconds=60))
    assert isinstance(provider, PrometheusProvider)
    assert provider.timeout_seconds == 4
    assert provider._connection.policy is settings.prometheus  # type: ignore[attr-defined]


def test_the_plugin_keeps_only_what_finds_a_cluster() -> None:
    settings = PluginSettings.from_env({"NO_COLOR": "1", "KUBECONFIG": "/k", "HOME": "/root"})
    assert settings.no_color
    assert settings.cluster_env == {"KUBECONFIG": "/k"}
    assert not PluginSettings.from_env({}).no_color


def test_admin_peers_are_network_policy_peers() -> None:
    peers = '[{"podSelector": {"matchLabels": {"app": "prom"}}}]'
    settings = OperatorSettings.from_env({"MODELROLLOUT_ROUTER_ADMIN_PEERS": peers})
    assert settings.router.admin_peers == ({"podSelector": {"matchLabels": {"app": "prom"}}},)
    for bad in ("{}", '[{"anything": 1}]', "[{}]", "[" + ",".join(['{"ipBlock": {}}'] * 17) + "]"):
        with pytest.raises(SettingsError, match="MODELROLLOUT_ROUTER_ADMIN_PEERS"):
            OperatorSettings.from_env({"MODELROLLOUT_ROUTER_ADMIN_PEERS": bad})
