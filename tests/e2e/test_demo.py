"""The demo flow as a test: a worse model is rolled back and a better one promoted, with the
real control plane, operator, model router, Prometheus, model servers and delayed labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from controller.api import GROUP, PLURAL, VERSION
from examples.demo.stack import NAME, NAMESPACE
from tests.e2e.demo_reset import reset_demo_rollout
from tests.helpers import eventually
from tests.integration.rollouts import TableRecorder

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_worse_model_rolled_back_better_model_promoted(
    kubeconfig: Path, api: client.ApiClient, tmp_path: Path
) -> None:
    core = client.CoreV1Api(api)
    # A reused cluster, or an earlier e2e test, may have run the demo's rollout.
    reset_demo_rollout(api)
    recorder = TableRecorder(api, NAMESPACE, NAME)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "examples.demo", "--kubeconfig", str(kubeconfig),
             "--workdir", str(tmp_path / "demo"), "--report", str(tmp_path / "report.html")],
            cwd=REPO, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        eventually(lambda: recorder.candidate_weights()[-1:] == [None], "the final table")
        weights = recorder.candidate_weights()
    finally:
        recorder.stop()

    body = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, NAME)
    assert isinstance(body, dict)
    history = body["status"]["history"]
    assert [(h["outcome"], h["reason"]) for h in history] == [
        ("RolledBack", "AnalysisFailed"), ("Promoted", "StepsCompleted")]
    assert history[0]["message"].startswith("accuracy: candidate ")
    assert "worse" in history[0]["message"]
    assert body["status"]["phase"] == "Healthy"

    # v2: shadow (0% live), 20% live, then back to stable; v3: the same, then 50%, promoted.
    assert weights == [None, 0, 20, None, 0, 20, 50, None]
    reasons = [e.reason for e in core.list_namespaced_event(
        NAMESPACE, field_selector=f"involvedObject.name={NAME}").items]
    assert "AnalysisFailed" in reasons
    assert "Promoted" in reasons
    report = (tmp_path / "report.html").read_text()
    assert "RolledBack" in report
    assert "<svg" in report
