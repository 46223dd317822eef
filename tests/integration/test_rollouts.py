"""The rollout engine end to end with the operator process, kwok pods and the builtin router's
routing table, against the real control plane."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster.build import ensure_binaries
from tests.helpers import eventually
from tests.integration.conftest import OperatorProcess
from tests.integration.rollouts import (
    Rollouts,
    ScaleToZeroRecorder,
    TableRecorder,
    canary,
    manifest,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def rollouts(api: client.ApiClient, namespace: str, operator: OperatorProcess) -> Rollouts:
    return Rollouts(api, namespace)


@pytest.fixture
def recorders(api: client.ApiClient, namespace: str) -> Iterator[dict[str, TableRecorder]]:
    started: dict[str, TableRecorder] = {}
    yield started
    for recorder in started.values():
        recorder.stop()


def deploy(rollouts: Rollouts, name: str, strategy: dict[str, object], **spec: object) -> None:
    rollouts.create(manifest(name, "model:1", strategy, **spec))
    rollouts.wait_condition(name, "Healthy", "True")


def services(api: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    """Which revision `<name>-stable` and `<name>-candidate` select."""
    core = client.CoreV1Api(api)
    selected = {}
    for role in ("stable", "candidate"):
        spec = core.read_namespaced_service(f"{name}-{role}", namespace).spec
        assert spec is not None
        selected[role] = (spec.selector or {})["rollouts.mlops.dev/revision"]
    return selected


def test_canary_with_weights_and_a_timed_pause_completes(
    api: client.ApiClient, namespace: str, rollouts: Rollouts,
    recorders: dict[str, TableRecorder],
) -> None:
    deploy(rollouts, "fraud", canary({"setWeight": 10}, {"pause": {"durationSeconds": 2}},
                                     {"setWeight": 40}, {"setWeight": 70}))
    first = rollouts.status("fraud")["stableRevision"]
    recorders["fraud"] = recorder = TableRecorder(api, namespace, "fraud")
    eventually(recorder.versions, "the recorder to see the first table")
    rollouts.set_image("fraud", "model:2")
    status = rollouts.wait_status("fraud", "promoted",
                                  lambda s: (s.get("history") or [{}])[-1].get("outcome")
                                  == "Promoted")
    assert status["stableRevision"] != first
    eventually(lambda: recorder.candidate_weights()[-1:] == [None], "the promoted table")
    assert recorder.candidate_weights() == [None, 0, 10, 40, 70, None]
    versions = recorder.versions()
    assert versions == list(range(versions[0], versions[0] + len(versions))), "no table skipped"
    assert services(api, namespace, "fraud")["stable"] == status["stableRevision"]
    reasons = rollouts.reasons("fraud")
    assert reasons.count("StepCompleted") == 3
    assert "Promoted" in reasons

    def old_deployment_gone() -> bool:
        names = {d.metadata.name for d in client.AppsV1Api(api).list_namespaced_deployment(
            namespace).items if d.metadata}
        return f"fraud-{first}" not in names

    assert eventually(old_deployment_gone, "the old revision scaled down and deleted")


def test_pause_holds_promote_moves_on_abort_returns_to_stable(
    api: client.ApiClient, namespace: str, rollouts: Rollouts, kubeconfig: Path,
    recorders: dict[str, TableRecorder],
) -> None:
    deploy(rollouts, "ranker", canary({"setWeight": 20}, {"pause": {}}, {"setWeight": 50},
                                      {"pause": {}}))
    stable = rollouts.status("ranker")["stableRevision"]
    recorders["ranker"] = recorder = TableRecorder(api, namespace, "ranker")
    eventually(recorder.versions, "the recorder to see the first table")
    rollouts.set_image("ranker", "model:2")
    status = rollouts.wait_condition("ranker", "Paused", "True", reason="WaitingForPromotion")
    assert (status["currentStepIndex"], status["traffic"]["candidateWeight"]) == (1, 20)

    rollouts.command("ranker", "not-a-command")  # a reconcile we can see: it still holds
    eventually(lambda: "InvalidCommand" in rollouts.reasons("ranker"), "InvalidCommand Event")
    assert rollouts.status("ranker")["currentStepIndex"] == 1

    rollouts.command("ranker", "promote@1")
    status = rollouts.wait_status("ranker", "step 3", lambda s: s.get("currentStepIndex") == 3)
    assert status["traffic"]["candidateWeight"] == 50
    scaled = ScaleToZeroRecorder(api, namespace, f"ranker-{status['candidateRevision']}")

    rollouts.command("ranker", "abort@2")
    kubectl = ensure_binaries() / "kubectl"
    subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", "-n", namespace, "wait",
                    "--for=condition=Degraded", "mro/ranker", "--timeout=60s"], check=True,
                   capture_output=True)
    status = rollouts.status("ranker")
    assert rollouts.condition("ranker", "Degraded") == ("True", "Aborted")
    assert status["stableRevision"] == stable
    assert status["history"][-1]["outcome"] == "Aborted"
    assert status["traffic"]["candidateWeight"] == 0
    eventually(lambda: recorder.candidate_weights()[-1] is None, "stable-only table")
    assert recorder.candidate_weights() == [None, 0, 20, 50, None]
    # make before break: the traffic left the candidate before it was scaled to zero
    scaled_at = eventually(lambda: scaled.resource_version, "the candidate scaled to zero")
    scaled.stop()
    assert recorder.last_resource_version() < scaled_at


def test_candidate_never_ready_is_rolled_back_at_the_deadline(rollouts: Rollouts) -> None:
    deploy(rollouts, "slow", canary({"setWeight": 50}), progressDeadlineSeconds=10)
    stuck = rollouts.get("slow")["spec"]["template"]
    stuck["spec"]["nodeSelector"] = {"no-such-node": "anywhere"}  # pods stay Pending
    rollouts.patch("slow", {"spec": {"template": stuck}})
    status = rollouts.wait_condition("slow", "Degraded", "True",
                                     reason="ProgressDeadlineExceeded", timeout=60)
    assert status["traffic"]["candidateWeight"] == 0
    assert "not Ready within 10s" in status["history"][-1]["message"]


def test_new_revision_mid_rollout_supersedes_the_candidate(
    api: client.ApiClient, namespace: str, rollouts: Rollouts,
) -> None:
    deploy(rollouts, "churn", canary({"setWeight": 30}, {"pause": {}}))
    rollouts.set_image("churn", "model:2")
    first = rollouts.wait_condition("churn", "Paused", "True")["candidateRevision"]
    rollouts.set_image("churn", "model:3")
    status = rollouts.wait_status(
        "churn", "the newer candidate paused at 30%",
        lambda s: s.get("candidateRevision") not in (None, first)
        and s.get("currentStepIndex") == 1 and s["traffic"]["candidateWeight"] == 30)
    assert status["history"][-1] == {**status["history"][-1], "revision": first,
                                     "outcome": "Superseded"}

    def superseded_gone() -> bool:
        names = {d.metadata.name for d in client.AppsV1Api(api).list_namespaced_deployment(
            namespace).items if d.metadata}
        return f"churn-{first}" not in names

    assert eventually(superseded_gone, "the superseded candidate's Deployment deleted")


def test_blue_green_previews_then_switches(
    api: client.ApiClient, namespace: str, rollouts: Rollouts,
    recorders: dict[str, TableRecorder],
) -> None:
    deploy(rollouts, "churn", {"blueGreen": {"scaleDownDelaySeconds": 0}})
    old = rollouts.status("churn")["stableRevision"]
    recorders["churn"] = recorder = TableRecorder(api, namespace, "churn")
    rollouts.set_image("churn", "model:2")
    status = rollouts.wait_condition("churn", "Paused", "True", reason="WaitingForPromotion")
    new = status["candidateRevision"]
    assert services(api, namespace, "churn") == {"stable": old, "candidate": new}
    assert status["traffic"]["candidateWeight"] == 0
    rollouts.command("churn", "promote@1")
    rollouts.wait_condition("churn", "Healthy", "True")
    assert services(api, namespace, "churn") == {"stable": new, "candidate": new}
    assert set(recorder.candidate_weights()) <= {None, 0}, "blue/green never splits live"


def test_deleting_mid_rollout_leaves_no_orphans(
    api: client.ApiClient, namespace: str, rollouts: Rollouts,
) -> None:
    deploy(rollouts, "gone", canary({"setWeight": 25}, {"pause": {}}))
    rollouts.set_image("gone", "model:2")
    rollouts.wait_condition("gone", "Paused", "True")
    rollouts.delete("gone")
    selector = "rollouts.mlops.dev/rollout=gone"
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)

    def nothing_left() -> bool:
        left = (apps.list_namespaced_deployment(namespace, label_selector=selector).items
                + core.list_namespaced_service(namespace, label_selector=selector).items
                + core.list_namespaced_config_map(namespace, label_selector=selector).items)
        return not left

    assert eventually(nothing_left, "every child garbage-collected", timeout=90)


def test_a_missing_route_is_a_condition_not_a_crash(rollouts: Rollouts) -> None:
    rollouts.create(manifest("routed", "model:1", canary({"setWeight": 10}),
                             trafficRouting={"gatewayAPI": {"httpRoute": "missing"}}))
    status = rollouts.wait_condition("routed", "Degraded", "True", reason="TrafficRoutingFailed")
    assert "missing" in status["message"]
    assert "not found" in status["message"]
    eventually(lambda: "TrafficRoutingFailed" in rollouts.reasons("routed"), "a Warning Event")
