"""Settings are read once from the environment; a bad value is refused naming its variable."""

from __future__ import annotations

import pytest

from controller.analysis.analyzer import DEFAULT_MIN_WINDOW_SECONDS, DEFAULT_SCOPE
from controller.operator.settings import (
    DEFAULT_ROUTER_IMAGE,
    DEFAULT_ROUTER_RESOURCES,
    OperatorSettings,
    SettingsError,
)
from controller.plugin.settings import PluginSettings

pytestmark = pytest.mark.unit


def test_defaults_without_any_variable() -> None:
    settings = OperatorSettings.from_env({})
    assert settings == OperatorSettings()
    assert settings.router.image == DEFAULT_ROUTER_IMAGE
    assert settings.router.service_account == ""  # a ServiceAccount per rollout
    assert settings.router.resources == DEFAULT_ROUTER_RESOURCES
    assert DEFAULT_ROUTER_RESOURCES.wire() == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                               "limits": {"memory": "512Mi"}}
    assert (settings.prometheus_scope, settings.min_window_seconds) == (
        DEFAULT_SCOPE, DEFAULT_MIN_WINDOW_SECONDS)
    assert settings.metrics_address is None


def test_every_variable_reaches_its_setting() -> None:
    settings = OperatorSettings.from_env({
        "MODELROLLOUT_ROUTER_IMAGE": "r/router:2", "MODELROLLOUT_ROUTER_SERVICE_ACCOUNT": "sa",
        "MODELROLLOUT_ADDRESSES": '{"abc": "127.0.0.1:9"}',
        "MODELROLLOUT_PROMETHEUS_SCOPE": 'job="x"', "MODELROLLOUT_MIN_WINDOW_SECONDS": "5",
        "MODELROLLOUT_METRICS_ADDRESS": "127.0.0.1:8081",
        "MODELROLLOUT_ROUTER_RESOURCES": '{"requests": {"cpu": "50m"}, "limits": {"cpu": "1"}}'})
    assert settings.router.image == "r/router:2"
    assert settings.router.resources.wire() == {"requests": {"cpu": "50m"},
                                                "limits": {"cpu": "1"}}
    assert settings.router.service_account == "sa"
    assert settings.router.address_overrides == {"abc": "127.0.0.1:9"}
    assert settings.prometheus_scope == 'job="x"'
    assert settings.min_window_seconds == 5
    assert settings.metrics_address == "127.0.0.1:8081"


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
