"""Reads from the watches: the child summary kept in the index, and when the reconciler may
trust the watch's copy of a rollout instead of asking the API."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.operator.children import REVISION_LABEL, ROLE_LABEL, SHADOW_LABEL
from controller.operator.kube import Kube
from controller.operator.observed import observe_deployment
from controller.operator.reconciler import Reconciler
from tests.doubles import PassingAnalyzer, RecordingRouter

pytestmark = pytest.mark.unit


def deployment(generation: int, status: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "fraud-abc", "generation": generation,
                     "labels": {REVISION_LABEL: "abc", ROLE_LABEL: "shadow", SHADOW_LABEL: "s1"}},
        "spec": {"replicas": 2},
    }
    if status is not None:
        body["status"] = status
    return body


def test_a_child_is_summarised_from_its_raw_body() -> None:
    child = observe_deployment(deployment(3, {"observedGeneration": 3, "readyReplicas": 2}))
    assert (child.name, child.revision, child.role, child.shadow) == (
        "fraud-abc", "abc", "shadow", "s1")
    assert child.replicas == 2
    assert child.state.ready_for(2)


def test_a_child_the_deployment_controller_has_not_seen_is_not_ready() -> None:
    assert not observe_deployment(deployment(4, {"observedGeneration": 3,
                                                 "readyReplicas": 2})).state.ready_for(2)
    assert not observe_deployment(deployment(1, None)).state.ready_for(1)


class CountingKube(Kube):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(client.ApiClient())
        self.body, self.reads = body, 0

    def get_rollout(self, namespace: str, name: str) -> dict[str, Any]:
        self.reads += 1
        return self.body


def rollout(version: str, step: int) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "fraud", "resourceVersion": version},
            "status": {"currentStepIndex": step}}


def reconciler(api_body: dict[str, Any]) -> tuple[Reconciler, CountingKube]:
    kube = CountingKube(api_body)
    return Reconciler(kube, PassingAnalyzer(), lambda _spec: RecordingRouter()), kube


def test_the_watch_copy_is_used_when_nothing_newer_is_known() -> None:
    subject, kube = reconciler(rollout("12", 1))
    assert subject._fresh_body("ns", "fraud", rollout("10", 0)) == rollout("10", 0)
    assert kube.reads == 0


def test_our_own_write_wins_over_an_older_watch_copy_until_the_watch_catches_up() -> None:
    subject, kube = reconciler(rollout("99", 9))
    subject.ahead_of_watch.remember(("ns", "fraud"), rollout("11", 1))  # our status write
    assert subject._fresh_body("ns", "fraud", rollout("10", 0)) == rollout("11", 1)
    assert subject._fresh_body("ns", "fraud", rollout("12", 2)) == rollout("12", 2)
    subject.ahead_of_watch.delivered(("ns", "fraud"), rollout("10", 0))
    assert len(subject.ahead_of_watch) == 1  # the watch is still behind
    subject.ahead_of_watch.delivered(("ns", "fraud"), rollout("11", 1))
    assert len(subject.ahead_of_watch) == 0
    assert subject._fresh_body("ns", "fraud", rollout("10", 0)) == rollout("10", 0)
    assert kube.reads == 0


def test_versions_that_do_not_compare_are_read_from_the_api() -> None:
    subject, kube = reconciler(rollout("c", 3))
    subject.ahead_of_watch.remember(("ns", "fraud"), rollout("b", 1))
    assert subject._fresh_body("ns", "fraud", rollout("a", 0)) == rollout("c", 3)
    assert kube.reads == 1
