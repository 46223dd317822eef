"""ModelRollouts as the API returns them, in the shapes the views must handle."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

CANARY_STEPS: list[Json] = [
    {"mirror": {"percent": 100, "durationSeconds": 600}},
    {"setWeight": 10},
    {"analysis": {"durationSeconds": 300, "minSamples": 500}},
    {"pause": {}},
    {"chaos": {"fractionBasisPoints": 3000, "errorStatus": 500, "durationSeconds": 60}},
]


def rollout(name: str = "fraud", strategy: Json | None = None,
            status: Json | None = None) -> Json:
    body: Json = {
        "apiVersion": "rollouts.mlops.dev/v1alpha1", "kind": "ModelRollout",
        "metadata": {"name": name, "namespace": "ml", "uid": "uid-1", "generation": 2,
                     "resourceVersion": "812", "creationTimestamp": "2026-03-01T11:00:00Z"},
        "spec": {"strategy": strategy or {"canary": {"steps": copy.deepcopy(CANARY_STEPS)}}},
    }
    if status is not None:
        body["status"] = status
    return body


def condition(kind: str, value: str, reason: str, message: str = "",
              at: str = "2026-03-01T11:58:00Z") -> Json:
    return {"type": kind, "status": value, "reason": reason, "message": message,
            "lastTransitionTime": at}


def metric(name: str, verdict: str, stable: int, candidate: int, estimate: float | None,
           lower: float | None, upper: float | None, p: float | None,
           needed: int | None = None, reason: str = "") -> Json:
    found: Json = {"name": name, "verdict": verdict,
                   "samples": {"stable": stable, "candidate": candidate}, "reason": reason}
    for key, value in (("estimate", estimate), ("lower", lower), ("upper", upper),
                       ("pValue", p), ("samplesNeeded", needed)):
        if value is not None:
            found[key] = value
    return found


def in_analysis() -> Json:
    return rollout(status={
        "observedGeneration": 2, "phase": "Progressing", "stableRevision": "5d8f7c",
        "candidateRevision": "9a1b2c", "currentStepIndex": 2,
        "stepStartedAt": "2026-03-01T11:59:15Z", "lastCommand": "resume@1",
        "traffic": {"stableWeight": 90, "candidateWeight": 10,
                    "mirrors": [{"variant": "shadow-a", "percent": 50}]},
        "analysis": {"verdict": "Inconclusive", "updatedAt": "2026-03-01T11:59:48Z",
                     "sampleRatioPValue": 0.41, "metrics": [
                         metric("errors", "Pass", 4210, 468, 0.0011, -0.0042, 0.0061, 0.81),
                         metric("accuracy", "Inconclusive", 4100, 455, -0.012, -0.05, 0.021,
                                0.23, needed=1800, reason="not enough samples yet"),
                     ]},
        "conditions": [
            condition("Healthy", "False", "RolloutInProgress", "a candidate is being rolled out"),
            condition("Progressing", "True", "RolloutInProgress", "candidate 9a1b2c at step 3"),
            condition("Paused", "False", "Running"),
            condition("Degraded", "False", "RolloutHealthy"),
        ],
    })


def rolled_back() -> Json:
    return rollout(status={
        "observedGeneration": 2, "phase": "Degraded", "stableRevision": "5d8f7c",
        "rejectedRevision": "9a1b2c",
        "traffic": {"stableWeight": 100, "candidateWeight": 0, "mirrors": []},
        "analysis": {"verdict": "Fail", "updatedAt": "2026-03-01T11:50:00Z", "metrics": [
            metric("accuracy", "Fail", 5012, 498, -0.2481, -0.2902, -0.2061, 3.2e-9,
                   reason="accuracy: candidate worse than stable by 24.8 points"),
            metric("errors", "Pass", 5012, 498, 0.0, -0.004, 0.004, 1.0),
        ]},
        "history": [
            {"revision": "1f2e3d", "outcome": "Promoted", "reason": "StepsCompleted",
             "message": "all 5 steps completed", "finishedAt": "2026-03-01T10:00:00Z"},
            {"revision": "9a1b2c", "outcome": "RolledBack", "reason": "AnalysisFailed",
             "message": "accuracy: candidate worse than stable by 24.8 points (p<0.0001)",
             "finishedAt": "2026-03-01T11:50:00Z"},
        ],
        "conditions": [
            condition("Progressing", "False", "RolledBack", "accuracy: candidate worse"),
            condition("Paused", "False", "NoRollout"),
            condition("Healthy", "False", "AnalysisFailed",
                      "revision 9a1b2c was rolledback; stable 5d8f7c serves all traffic"),
            condition("Degraded", "True", "AnalysisFailed", "accuracy: candidate worse"),
        ],
    })


def blue_green(step: int = 0) -> Json:
    strategy = {"blueGreen": {"autoPromote": False,
                              "prePromotionAnalysis": {"durationSeconds": 120}}}
    return rollout(name="ranker", strategy=strategy, status={
        "observedGeneration": 2, "phase": "Paused" if step else "Progressing",
        "stableRevision": "aaa111", "candidateRevision": "bbb222", "currentStepIndex": step,
        "traffic": {"stableWeight": 100, "candidateWeight": 0},
        "conditions": [condition("Paused", "True" if step else "False",
                                 "WaitingForPromotion" if step else "Running",
                                 "promote to continue" if step else "")],
    })


def event(reason: str, message: str, at: str, kind: str = "Normal", count: int = 1) -> Json:
    return {"type": kind, "reason": reason, "message": message, "lastTimestamp": at,
            "count": count, "involvedObject": {"name": "fraud", "uid": "uid-1"}}


EVENTS = [
    event("RolloutStarted", "revision 9a1b2c starts", "2026-03-01T11:40:00Z"),
    event("AnalysisFailed", "accuracy <b>worse</b>", "2026-03-01T11:50:00Z", "Warning"),
    event("StepCompleted", "step 2/5 (setWeight 10)", "2026-03-01T11:45:00Z", count=2),
]


ANALYSIS_SPEC: Json = {"intervalSeconds": 15, "metrics": [
    {"name": "errors", "template": "errorRate", "toleranceBasisPoints": 50},
    {"name": "accuracy", "template": "feedbackAccuracy", "toleranceBasisPoints": 200},
    {"name": "agree", "template": "shadowAgreement", "toleranceBasisPoints": 300},
]}


def look(at: str, verdict: str, weight: int, mirror: int, k: int) -> Json:
    """The k-th look of a step: intervals narrowing as samples grow."""
    n = 300 * (k + 1)
    half = 0.06 / (k + 1) ** 0.5
    return {"at": at, "verdict": verdict, "stableWeight": 100 - weight,
            "candidateWeight": weight,
            "mirrors": [{"variant": "shadow-a", "percent": mirror}] if mirror else [],
            "metrics": [
                metric("errors", "Pass" if k > 8 else "Inconclusive", 9 * n, n, 0.001,
                       0.001 - half / 4, 0.001 + half / 4, 0.5 / (k + 1)),
                metric("accuracy", verdict, 9 * n, n, -0.012, -0.012 - half, -0.012 + half,
                       0.9 / (k + 1)),
                metric("agree", "Inconclusive", 0, n // 2, -0.02, -0.02 - half, 0.0, 0.4),
            ]}


def with_history() -> Json:
    """In analysis at step 3 with 12 looks kept; step 5 before it had one look."""
    body = in_analysis()
    body["spec"]["analysis"] = copy.deepcopy(ANALYSIS_SPEC)
    looks = [look(f"2026-03-01T11:{57 + (15 * k) // 60:02d}:{(15 * k) % 60:02d}Z",
                  "Inconclusive", 10, 50, k) for k in range(12)]
    single = [look("2026-03-01T11:56:00Z", "Pass", 0, 100, 3)]
    body["status"]["analysisHistory"] = [
        {"index": 0, "step": "mirror 100% for 600s", "looks": single},
        {"index": 2, "step": "analysis", "looks": looks}]
    return body
