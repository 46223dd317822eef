"""Control-plane faults mid-rollout, on a control plane of this module's own (its processes
are killed and frozen): a rollout deleted and created again under the same name, an API server
away for 30 s, an Event POST that times out after the status write, an API server frozen for
longer than the operator's API timeout."""

from __future__ import annotations

import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.cluster.controlplane import ControlPlane, start
from tests.cluster.processes import free_port
from tests.helpers import eventually
from tests.integration.conftest import OperatorProcess
from tests.integration.faults import (
    APISERVER,
    KCM,
    HangingWebhook,
    ReconnectingTableRecorder,
    new_namespace,
    owner_uids,
    plane_api,
    wait_ready,
)
from tests.integration.rollouts import Rollouts, canary, manifest

pytestmark = pytest.mark.integration

API_TIMEOUT_SECONDS = 3
STEPS = canary({"setWeight": 10}, {"setWeight": 30}, {"pause": {"durationSeconds": 1}},
               {"setWeight": 60}, {"pause": {"durationSeconds": 1}}, {"setWeight": 90})
REFERENCE = [None, 0, 10, 30, 60, 90, None]


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    own = start(tmp_path_factory.mktemp("fault-plane"))
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture(scope="module")
def fault_api(plane: ControlPlane) -> client.ApiClient:
    api = plane_api(plane)
    # The garbage collector learns of a CRD installed after it started only at a later
    # discovery; started again now, it collects a deleted ModelRollout's dependents at once.
    plane.kill(KCM)
    plane.restart(KCM)
    return api


@pytest.fixture
def healthy_plane(plane: ControlPlane, fault_api: client.ApiClient) -> Iterator[ControlPlane]:
    """The module's plane, whole again after each test (thawed, restarted, ready)."""
    yield plane
    for service in plane.services:
        plane.signal(service.name, signal.SIGCONT)
        if not service.alive():
            plane.restart(service.name)
    wait_ready(plane)


@pytest.fixture
def fault_namespace(fault_api: client.ApiClient) -> str:
    return new_namespace(fault_api)


@pytest.fixture
def fault_operator(plane: ControlPlane, fault_api: client.ApiClient,
                   tmp_path: Path) -> Iterator[OperatorProcess]:
    metrics_port = free_port()
    process = OperatorProcess(plane.kubeconfig, tmp_path / "operator.log", env={
        "MODELROLLOUT_API_TIMEOUT_SECONDS": str(API_TIMEOUT_SECONDS),
        "MODELROLLOUT_API_CONNECT_TIMEOUT_SECONDS": "1",
        "MODELROLLOUT_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}"})
    process.metrics_port = metrics_port  # type: ignore[attr-defined]
    process.start()
    try:
        yield process
    finally:
        process.stop()


def start_canary(rollouts: Rollouts, name: str, steps: dict[str, Any] = STEPS) -> None:
    rollouts.create(manifest(name, "model:1", steps))
    rollouts.wait_condition(name, "Healthy", "True")


def step_index(rollouts: Rollouts, name: str) -> int:
    return int(rollouts.status(name).get("currentStepIndex") or -1)


def promoted(rollouts: Rollouts, name: str) -> bool:
    history = rollouts.status(name).get("history") or []
    return bool(history) and history[-1].get("outcome") == "Promoted"


# --- delete and create again under the same name ----------------------------------------------


def gone_or_uid(rollouts: Rollouts, name: str) -> str | None:
    """The rollout's uid, or None once it is gone."""
    try:
        return str(rollouts.get(name)["metadata"]["uid"])
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


@pytest.mark.parametrize("freeze_gc", [False, True], ids=["gc-running", "gc-frozen"])
def test_recreated_rollout_owns_its_routing_table(
    healthy_plane: ControlPlane, fault_api: client.ApiClient, fault_namespace: str,
    fault_operator: OperatorProcess, freeze_gc: bool,
) -> None:
    plane, core = healthy_plane, client.CoreV1Api(fault_api)
    rollouts, name = Rollouts(fault_api, fault_namespace), "again"
    long_pause = canary({"setWeight": 10}, {"pause": {}}, {"setWeight": 50})
    start_canary(rollouts, name, long_pause)
    rollouts.set_image(name, "model:2")
    eventually(lambda: step_index(rollouts, name) >= 1, "the canary paused at 10%")
    old_uid = rollouts.get(name)["metadata"]["uid"]
    # A dependent of the old object only: once it is gone, the garbage collector has acted
    # on the old object's deletion.
    sentinel: Any = {"metadata": {
        "name": "sentinel", "ownerReferences": [{
            "apiVersion": "rollouts.mlops.dev/v1alpha1", "kind": "ModelRollout",
            "name": name, "uid": old_uid}]}}
    core.create_namespaced_config_map(fault_namespace, sentinel)
    if freeze_gc:
        plane.signal(KCM, signal.SIGSTOP)
    try:
        rollouts.delete(name)
        eventually(lambda: not gone_or_uid(rollouts, name), "the old rollout gone")
        # The manifest as it was before the change (a person undoing it, a GitOps replace):
        # its table is the one the deleted rollout left on its way out, word for word, so
        # only the owner tells them apart.
        rollouts.create(manifest(name, "model:1", long_pause))
        new_uid = rollouts.get(name)["metadata"]["uid"]

        def table_owned() -> bool:
            try:  # the collector may have deleted the old object's table meanwhile
                found = core.read_namespaced_config_map(f"{name}-routing", fault_namespace)
            except client.ApiException as error:
                if error.status == 404:
                    return False
                raise
            return bool(owner_uids(found) == [new_uid])

        # Within one reconcile of the new object, before the collector could have helped.
        eventually(table_owned, "the routing table owned by the new rollout", timeout=30)
    finally:
        plane.signal(KCM, signal.SIGCONT)

    def sentinel_collected() -> bool:
        try:
            core.read_namespaced_config_map("sentinel", fault_namespace)
        except client.ApiException as error:
            return bool(error.status == 404)
        return False

    eventually(sentinel_collected, "the collector to act on the old rollout", timeout=60)
    rollouts.wait_condition(name, "Healthy", "True")
    table = core.read_namespaced_config_map(f"{name}-routing", fault_namespace)
    assert owner_uids(table) == [new_uid]
    secret_owner = eventually(lambda: owner_uids(core.read_namespaced_secret(
        f"{name}-router-admin", fault_namespace)) == [new_uid], "the admin Secret re-owned")
    assert secret_owner
    router = client.AppsV1Api(fault_api).read_namespaced_deployment(f"{name}-router",
                                                                    fault_namespace)
    assert owner_uids(router) == [new_uid]


def test_deleted_routing_table_is_written_again(
    healthy_plane: ControlPlane, fault_api: client.ApiClient, fault_namespace: str,
    fault_operator: OperatorProcess,
) -> None:
    """A table deleted (or edited) by someone else is restored at once, not at the next
    traffic change or resync."""
    core, rollouts, name = client.CoreV1Api(fault_api), Rollouts(fault_api, fault_namespace), "kept"
    start_canary(rollouts, name, canary({"setWeight": 10}, {"pause": {}}))
    rollouts.set_image(name, "model:2")
    eventually(lambda: step_index(rollouts, name) >= 1, "the canary paused at 10%")
    table_name = f"{name}-routing"
    core.delete_namespaced_config_map(table_name, fault_namespace)

    def restored() -> bool:
        try:
            found = core.read_namespaced_config_map(table_name, fault_namespace)
        except client.ApiException:
            return False
        return '"weightBp":1000' in (found.data or {}).get("table.json", "").replace(" ", "")

    eventually(restored, "the table written again at 10%", timeout=30)
    core.patch_namespaced_config_map(table_name, fault_namespace,
                                     {"data": {"table.json": '{"version": 99}'}})
    eventually(restored, "the edited table written again", timeout=30)
    apps = client.AppsV1Api(fault_api)
    apps.delete_namespaced_deployment(f"{name}-router", fault_namespace)
    eventually(lambda: apps.list_namespaced_deployment(
        fault_namespace, field_selector=f"metadata.name={name}-router").items,
        "the router Deployment created again", timeout=30)


# --- the API server away ----------------------------------------------------------------------


def test_apiserver_outage_mid_rollout_resumes_at_once(
    healthy_plane: ControlPlane, fault_api: client.ApiClient, fault_namespace: str,
    fault_operator: OperatorProcess,
) -> None:
    plane, rollouts, name = healthy_plane, Rollouts(fault_api, fault_namespace), "outage"
    steps = canary({"setWeight": 10}, {"setWeight": 30}, {"pause": {"durationSeconds": 3}},
                   {"setWeight": 60}, {"pause": {"durationSeconds": 1}}, {"setWeight": 90})
    start_canary(rollouts, name, steps)
    recorder = ReconnectingTableRecorder(fault_api, fault_namespace, name)
    try:
        eventually(recorder.versions, "the recorder to see the first table")
        rollouts.set_image(name, "model:2")
        eventually(lambda: step_index(rollouts, name) == 2, "the pause after 30%")
        before = rollouts.get(name)["metadata"]["resourceVersion"]
        plane.kill(APISERVER)
        time.sleep(30)  # the outage itself (the fault under test), not a synchronisation
        plane.restart(APISERVER)
        ready = wait_ready(plane)
        eventually(lambda: rollouts.get(name)["metadata"]["resourceVersion"] != before,
                   "the operator's first write after the outage", interval=0.02)
        first_write = time.monotonic() - ready
        print(f"first write {first_write:.2f}s after the API server was ready")
        # The old backoff (1, 2, 5, 10, 30 s) had the loop asleep for ~20 s after this outage;
        # the probe wakes it within its interval (500 ms) and a reconcile. Generous margin.
        assert first_write < 10, f"first write only {first_write:.1f}s after readiness"
        eventually(lambda: promoted(rollouts, name), "promotion", timeout=120)
        eventually(lambda: recorder.candidate_weights()[-1] is None, "the stable-only table")
        assert recorder.candidate_weights() == REFERENCE
        versions = recorder.versions()
        assert versions == list(range(versions[0], versions[0] + len(versions))), versions
    finally:
        recorder.stop()


def test_event_lost_after_the_status_write_is_posted_later(
    healthy_plane: ControlPlane, fault_api: client.ApiClient, fault_namespace: str,
    fault_operator: OperatorProcess, tmp_path: Path,
) -> None:
    rollouts, name = Rollouts(fault_api, fault_namespace), "told"
    start_canary(rollouts, name)
    webhook = HangingWebhook(fault_api, fault_namespace, tmp_path)
    webhook.install()
    try:
        rollouts.set_image(name, "model:2")
        # The canary moves on (status writes succeed) while every Event POST times out.
        eventually(lambda: step_index(rollouts, name) >= 2, "steps completed meanwhile",
                   timeout=120)
        assert "StepCompleted" not in rollouts.reasons(name)
    finally:
        webhook.remove()
        webhook.close()
    eventually(lambda: promoted(rollouts, name), "promotion", timeout=120)
    # One per step but the last, which the Promoted Event tells.
    steps = len(STEPS["canary"]["steps"]) - 1

    def all_told() -> Counter[str] | None:
        completed = Counter(str(e.message) for e in rollouts.events(name)
                            if e.reason == "StepCompleted")
        return completed if len(completed) == steps else None

    completed = eventually(all_told, "a StepCompleted Event for every step", timeout=60)
    assert max(completed.values()) == 1, f"an Event posted twice: {completed}"
    assert rollouts.reasons(name).count("Promoted") == 1


def reconcile_errors(operator: OperatorProcess) -> float:
    port = operator.metrics_port  # type: ignore[attr-defined]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("modelrollout_reconcile_errors_total{"))


def test_frozen_apiserver_times_out_and_retries(
    healthy_plane: ControlPlane, fault_api: client.ApiClient, fault_namespace: str,
    fault_operator: OperatorProcess,
) -> None:
    plane, rollouts, name = healthy_plane, Rollouts(fault_api, fault_namespace), "frozen"
    start_canary(rollouts, name, canary({"setWeight": 10}, {"pause": {"durationSeconds": 4}},
                                        {"setWeight": 50}))
    rollouts.set_image(name, "model:2")
    eventually(lambda: step_index(rollouts, name) == 1, "the pause")
    errors_before = reconcile_errors(fault_operator)
    plane.signal(APISERVER, signal.SIGSTOP)
    try:
        # While it stays frozen the reconciles give up (the 3 s timeout) and try again: no
        # thread waits for the API server to come back.
        eventually(lambda: reconcile_errors(fault_operator) >= errors_before + 2,
                   "reconciles failing and retrying while the API server is frozen",
                   timeout=10 * API_TIMEOUT_SECONDS + 30)
    finally:
        plane.signal(APISERVER, signal.SIGCONT)
    eventually(lambda: promoted(rollouts, name), "promotion after the freeze", timeout=120)
