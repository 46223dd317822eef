"""A mirror phase that gates: a candidate that disagrees with the primary on the same requests
is rolled back before any live user sees it — the real control plane, operator, model router,
Prometheus, model servers and delayed labels, as the demo runs them."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controller.api import GROUP, PLURAL, VERSION
from examples.demo.stack import NAME, NAMESPACE, Stack, demo_rollout, template
from examples.demo.traffic import TrafficGenerator
from tests.e2e.demo_reset import reset_demo_rollout
from tests.helpers import eventually
from tests.integration.rollouts import TableRecorder

pytestmark = pytest.mark.e2e


def judged_mirror(prometheus_url: str) -> dict[str, Any]:
    return demo_rollout(prometheus_url, steps=[
        {"mirror": {"percent": 100, "analysis": {"durationSeconds": 240, "minSamples": 300}}},
        {"setWeight": 20},
        {"analysis": {"minSamples": 300}},
    ], metrics=[
        # At least 90% of the candidate's answers must match the primary's.
        {"name": "agreement", "template": "shadowAgreement", "toleranceBasisPoints": 1000},
        {"name": "errors", "template": "errorRate", "toleranceBasisPoints": 50},
    ])


@pytest.fixture
def stack(kubeconfig: Path, api: client.ApiClient, tmp_path: Path) -> Iterator[Stack]:
    objects = client.CustomObjectsApi(api)
    reset_demo_rollout(api)
    built = Stack(workdir=tmp_path / "stack", kubeconfig=kubeconfig)
    try:
        built.start_models(built.train())
        built.start_router()
        built.start_operator()
        yield built
    finally:
        built.close()
        with contextlib.suppress(client.ApiException):
            objects.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)


def test_a_candidate_that_disagrees_is_rolled_back_in_the_mirror_phase(
    stack: Stack, api: client.ApiClient
) -> None:
    objects = client.CustomObjectsApi(api)

    def status() -> dict[str, Any]:
        body = objects.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
        assert isinstance(body, dict)
        found: dict[str, Any] = body.get("status") or {}
        return found

    recorder = TableRecorder(api, NAMESPACE, NAME)
    objects.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                            judged_mirror(stack.prometheus_url))
    eventually(lambda: status().get("phase") == "Healthy" or None, "v1 Healthy", timeout=120)
    holdout = json.loads((stack.workdir / "models" / "holdout.json").read_text())
    traffic = TrafficGenerator(f"127.0.0.1:{stack.router_port}", holdout["instances"],
                               holdout["labels"], rate_per_second=40.0)
    traffic.start()
    try:
        # v2 is v1's recipe with 40% of its training labels randomised: it disagrees often.
        objects.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME,
                                               {"spec": {"template": template("v2")}})
        started = time.monotonic()
        eventually(lambda: status().get("history") or None, "v2's outcome", timeout=600)
        seconds = time.monotonic() - started
        eventually(lambda: recorder.candidate_weights()[-1:] == [None] or None,
                   "the table back to stable", timeout=60)
    finally:
        traffic.stop()
        recorder.stop()

    final = status()
    entry = final["history"][-1]
    assert (entry["outcome"], entry["reason"]) == ("RolledBack", "AnalysisFailed"), entry
    assert entry["message"].startswith("agreement: candidate agrees "), entry["message"]
    assert "floor 90%" in entry["message"]
    steps = final["stepResults"]
    assert [s["step"] for s in steps] == ["mirror 100% judged"], steps
    assert steps[0]["judged"] is True
    # Not one live request went to the candidate: every table the operator wrote kept it at
    # 0% live (or left it out), and the candidate did get its mirrored copies.
    assert set(recorder.candidate_weights()) <= {None, 0}, recorder.candidate_weights()
    mirrored = [t["candidate"]["mirrorBp"] for t in recorder.tables if t.get("candidate")]
    assert 10_000 in mirrored
    assert set(mirrored) <= {0, 10_000}  # 0 until the candidate is Ready
    print(json.dumps({"mirror_phase_rollback_seconds": round(seconds, 1)}))
