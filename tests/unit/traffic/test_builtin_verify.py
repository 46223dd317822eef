"""The builtin router checks what each replica serves and writes a drifted table again."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from kubernetes import client

from controller.analysis.provider import ProviderError
from controller.api.analysis import PrometheusSource
from controller.api.routing import BuiltinRouter
from controller.contract.table import TABLE_KEY, parse_table, table_digest
from controller.operator.kube import AppliedCache, Kube
from controller.operator.settings import BuiltinRouterSettings
from controller.rollout.ref import RolloutRef
from controller.rollout.split import TrafficSplit
from controller.router.telemetry import RouterMetrics
from controller.traffic.builtin import BuiltinTrafficRouter, RecentVerdicts, routing_table

pytestmark = pytest.mark.unit
ROLLOUT = RolloutRef(name="fraud", namespace="ml", uid="u-1", port=8080)
SPLIT = TrafficSplit("aaa", "bbb", 10)
SOURCE = PrometheusSource(address="http://127.0.0.1:9")


class MemoryKube(Kube):
    """ConfigMaps in memory; every other write is accepted and forgotten."""

    def __init__(self) -> None:
        super().__init__(client.ApiClient(), AppliedCache())
        self.config_maps: dict[str, dict[str, Any]] = {}
        self.table_writes = 0

    def read_config_map(self, namespace: str, name: str) -> client.V1ConfigMap | None:
        found = self.config_maps.get(name)
        return None if found is None else client.V1ConfigMap(data=found["data"])

    def apply(self, manifest: dict[str, Any]) -> None:
        if manifest["kind"] == "ConfigMap":
            self.config_maps[manifest["metadata"]["name"]] = manifest
            self.table_writes += 1

    def create_secret_once(self, manifest: dict[str, Any]) -> None:
        return None


class Replicas:
    """What Prometheus answers for modelrouter_table_info."""

    def __init__(self) -> None:
        self.series: list[dict[str, str]] = []
        self.queries: list[str] = []
        self.error: ProviderError | None = None

    def __call__(self, source: PrometheusSource, query: str) -> Sequence[Mapping[str, str]]:
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        return self.series


def router(kube: MemoryKube, replicas: Replicas, catch_up: int = 60) -> BuiltinTrafficRouter:
    settings = BuiltinRouterSettings(verify_interval_seconds=30, catch_up_seconds=catch_up)
    return BuiltinTrafficRouter(kube, BuiltinRouter(), settings,
                                (replicas, SOURCE, 'namespace="{namespace}"'), RecentVerdicts())


def served(version: int, digest: str, pod: str = "fraud-router-1") -> dict[str, str]:
    return {"pod": pod, "version": str(version), "digest": digest}


def held_version(kube: MemoryKube) -> int:
    return parse_table(kube.config_maps["fraud-routing"]["data"][TABLE_KEY]).version


def test_replicas_on_the_written_table_are_verified() -> None:
    kube, replicas = MemoryKube(), Replicas()
    subject = router(kube, replicas)
    subject.apply(ROLLOUT, SPLIT)
    digest = table_digest(routing_table(ROLLOUT, BuiltinRouter(), SPLIT, 0))
    replicas.series = [served(1, digest), served(1, digest, "fraud-router-2")]
    verdict = subject.verify(ROLLOUT, SPLIT)
    assert verdict is not None
    assert (verdict.verified, verdict.reason) == (True, "RoutersServeTable")
    assert replicas.queries == ['modelrouter_table_info{namespace="ml"}']
    assert subject.verify(ROLLOUT, SPLIT) == verdict  # within the interval: not read again
    assert len(replicas.queries) == 1
    assert verdict.recheck_seconds == 30
    assert kube.table_writes == 1


def test_a_drifted_replica_gets_the_table_again_as_a_new_version() -> None:
    kube, replicas = MemoryKube(), Replicas()
    subject = router(kube, replicas, catch_up=0)
    subject.apply(ROLLOUT, SPLIT)
    assert held_version(kube) == 1
    replicas.series = [served(1, "0123456789abcdef")]
    verdict = subject.verify(ROLLOUT, SPLIT)
    assert verdict is not None
    assert (verdict.verified, verdict.reason) == (False, "RouterTableDrift")
    assert kube.table_writes == 2
    assert held_version(kube) == 2
    written = json.loads(kube.config_maps["fraud-routing"]["data"][TABLE_KEY])
    assert written["candidate"]["weightBp"] == 1000  # the same content, a new version


def test_a_replica_just_behind_a_write_is_catching_up() -> None:
    kube, replicas = MemoryKube(), Replicas()
    subject = router(kube, replicas, catch_up=3600)
    subject.apply(ROLLOUT, SPLIT)
    replicas.series = [served(0, "0123456789abcdef")]
    verdict = subject.verify(ROLLOUT, SPLIT)
    assert verdict is not None
    assert (verdict.verified, verdict.reason) == (None, "RoutersCatchingUp")
    assert kube.table_writes == 1


def test_prometheus_unreachable_is_not_observed_and_changes_nothing() -> None:
    kube, replicas = MemoryKube(), Replicas()
    replicas.error = ProviderError("unreachable", "q", "connection refused")
    subject = router(kube, replicas)
    subject.apply(ROLLOUT, SPLIT)
    verdict = subject.verify(ROLLOUT, SPLIT)
    assert verdict is not None
    assert (verdict.verified, verdict.reason) == (None, "RoutersNotObserved")
    assert "http://127.0.0.1:9" in verdict.message
    assert kube.table_writes == 1


def test_without_prometheus_there_is_nothing_to_verify() -> None:
    kube = MemoryKube()
    subject = BuiltinTrafficRouter(kube, BuiltinRouter(), BuiltinRouterSettings())
    subject.apply(ROLLOUT, SPLIT)
    assert subject.verify(ROLLOUT, SPLIT) is None


def test_the_router_reports_the_digest_the_operator_expects() -> None:
    """Both sides of the contract: what the router exports for the table it parsed from the
    ConfigMap is what the operator computes for the table it wrote."""
    kube = MemoryKube()
    BuiltinTrafficRouter(kube, BuiltinRouter(), BuiltinRouterSettings()).apply(ROLLOUT, SPLIT)
    parsed = parse_table(kube.config_maps["fraud-routing"]["data"][TABLE_KEY])
    metrics = RouterMetrics()
    metrics.show_table(parsed)
    ((version, digest),) = metrics.table_info.values
    assert version == "1"
    assert digest == table_digest(routing_table(ROLLOUT, BuiltinRouter(), SPLIT, 0))
