"""The routing table belongs to the rollout by uid: one deleted and created again under the
same name takes over the table, even when its content is the same word for word."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.api.routing import BuiltinRouter
from controller.contract.table import TABLE_KEY, parse_table
from controller.operator.kube import AppliedCache, Kube
from controller.operator.settings import BuiltinRouterSettings
from controller.rollout.ref import RolloutRef
from controller.rollout.split import TrafficSplit
from controller.traffic.base import RouterError
from controller.traffic.builtin import BuiltinTrafficRouter, RecentVerdicts

pytestmark = pytest.mark.unit
OLD = RolloutRef(name="fraud", namespace="ml", uid="u-old", port=8080)
NEW = RolloutRef(name="fraud", namespace="ml", uid="u-new", port=8080)
SPLIT = TrafficSplit("aaa", None, 0)


class OwnedKube(Kube):
    """ConfigMaps in memory with their owners and a resourceVersion; other writes dropped."""

    def __init__(self) -> None:
        super().__init__(client.ApiClient(), AppliedCache())
        self.config_maps: dict[str, dict[str, Any]] = {}
        self.versions = 0

    def read_config_map(self, namespace: str, name: str) -> client.V1ConfigMap | None:
        found = self.config_maps.get(name)
        if found is None:
            return None
        owners = [client.V1OwnerReference(api_version="v1", kind="ModelRollout", name=o["name"],
                                          uid=o["uid"], controller=o.get("controller"))
                  for o in found["metadata"]["ownerReferences"]]
        return client.V1ConfigMap(data=found["data"], metadata=client.V1ObjectMeta(
            owner_references=owners, resource_version=str(self.versions)))

    def apply(self, manifest: dict[str, Any]) -> None:
        if manifest["kind"] == "ConfigMap":
            self.versions += 1
            self.config_maps[manifest["metadata"]["name"]] = manifest

    def create_secret_once(self, manifest: dict[str, Any]) -> None:
        return None


def owner(kube: OwnedKube) -> str:
    return str(kube.config_maps["fraud-routing"]["metadata"]["ownerReferences"][0]["uid"])


def table_version(kube: OwnedKube) -> int:
    return parse_table(kube.config_maps["fraud-routing"]["data"][TABLE_KEY]).version


def test_a_recreated_rollout_takes_over_an_identical_table() -> None:
    kube = OwnedKube()
    router = BuiltinTrafficRouter(kube, BuiltinRouter(), BuiltinRouterSettings(),
                                  verdicts=RecentVerdicts())
    router.apply(OLD, SPLIT)
    assert (owner(kube), table_version(kube)) == ("u-old", 1)
    router.apply(NEW, SPLIT)  # same name, same split, another object
    assert (owner(kube), table_version(kube)) == ("u-new", 2)


def test_an_owned_identical_table_is_not_written_but_watched() -> None:
    """Found as it should be (written by an earlier process): no write, and what was read is
    remembered, so that the ConfigMap watch tells someone else's deletion or edit from it."""
    kube = OwnedKube()
    first = BuiltinTrafficRouter(kube, BuiltinRouter(), BuiltinRouterSettings(),
                                 verdicts=RecentVerdicts())
    first.apply(NEW, SPLIT)
    kube.applied = AppliedCache()  # a restarted operator: nothing remembered
    BuiltinTrafficRouter(kube, BuiltinRouter(), BuiltinRouterSettings(),
                         verdicts=RecentVerdicts()).apply(NEW, SPLIT)
    assert table_version(kube) == 1
    assert kube.applied.witness(("ConfigMap", "ml", "fraud-routing")) == "1"


def test_a_table_the_router_would_refuse_is_a_router_error_naming_the_field() -> None:
    # A RouterError becomes the TrafficRoutingFailed condition and Event; anything else
    # would retry without a status (a silent hold).
    kube = OwnedKube()
    config = BuiltinRouter.model_validate({"overrides": {"segments": [
        {"name": "beta", "variant": "nobody", "units": ["u1"]}]}})
    router = BuiltinTrafficRouter(kube, config, BuiltinRouterSettings(), verdicts=RecentVerdicts())
    with pytest.raises(RouterError, match=r"spec\.trafficRouting\.builtin.*unknown variant"):
        router.apply(NEW, SPLIT)
    assert kube.config_maps == {}  # nothing written
