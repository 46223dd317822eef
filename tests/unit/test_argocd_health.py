"""The Argo CD health check (charts/modelrollout/argocd/health.lua), run by a real Lua
interpreter the way Argo CD runs it: the live object in the global `obj`, a table returned.

Argo CD embeds gopher-lua (Lua 5.1); the script is run with every Debian Lua found among 5.1,
5.4 and 5.3 (`apt-get install lua5.1 lua5.4`). Statuses are built with the operator's own
status models, so the field names are the ones the operator writes.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from controller.api.status import ConditionType, ModelRolloutStatus
from controller.rollout.conditions import set_condition

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / "charts" / "modelrollout" / "argocd" / "health.lua"
INTERPRETERS = [name for name in ("lua5.1", "lua5.4", "lua5.3") if shutil.which(name)]
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def lua_literal(value: Any) -> str:
    """Python data as a Lua table constructor; None (JSON null) leaves the key out."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    if isinstance(value, dict):
        items = [f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items()
                 if v is not None]
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


def health(interpreter: str, obj: dict[str, Any], tmp_path: Path) -> tuple[str, str]:
    harness = tmp_path / "harness.lua"
    harness.write_text(
        f"obj = {lua_literal(obj)}\n"
        f"local hs = dofile({lua_literal(str(SCRIPT))})\n"
        'io.write(hs.status, "\\n", hs.message or "")\n'
    )
    result = subprocess.run([interpreter, str(harness)], capture_output=True, text=True,
                            check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    status, _, message = result.stdout.partition("\n")
    return status, message


Conditions = list[tuple[ConditionType, bool, str, str]]


def rollout(generation: int, observed: int | None, conditions: Conditions,
            condition_generation: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "rollouts.mlops.dev/v1alpha1", "kind": "ModelRollout",
        "metadata": {"name": "fraud", "namespace": "ml", "generation": generation},
        "spec": {},
    }
    if observed is None:
        return body
    made: list[Any] = []
    for type_, value, reason, message in conditions:
        made = set_condition(made, type_, value, reason, message,
                             condition_generation or observed, NOW)
    status = ModelRolloutStatus.model_validate({"observedGeneration": observed})
    body["status"] = status.model_copy(update={"conditions": made}).model_dump(
        by_alias=True, exclude_none=True, mode="json")
    return body


STEADY: Conditions = [
    ("Progressing", False, "NoRollout", "revision abc is stable"),
    ("Paused", False, "NoRollout", ""),
    ("Degraded", False, "RolloutHealthy", ""),
    ("Healthy", True, "StableReady", "revision abc serves all traffic"),
]
ROLLING: Conditions = [
    ("Progressing", True, "RolloutInProgress", "candidate def at step 2"),
    ("Paused", False, "Running", ""),
    ("Degraded", False, "RolloutHealthy", ""),
    ("Healthy", False, "RolloutInProgress", "a candidate is being rolled out"),
]
WAITING: Conditions = [*ROLLING[:1], ("Paused", True, "WaitingForPromotion",
                                      "promote to continue"), *ROLLING[2:]]
ROLLED_BACK: Conditions = [
    ("Progressing", False, "RolledBack", "errors: candidate worse than stable (p=0.001)"),
    ("Paused", False, "NoRollout", ""),
    ("Degraded", True, "AnalysisFailed", "errors: candidate worse than stable (p=0.001)"),
    ("Healthy", False, "AnalysisFailed", "revision def was rolledback; stable abc serves"),
]
ROUTING_FAILED: Conditions = [*WAITING[:2], ("Degraded", True, "TrafficRoutingFailed",
                                             "HTTPRoute ml/web not found"), *WAITING[3:]]
NOT_READY: Conditions = [*STEADY[:3], ("Healthy", False, "StableNotReady",
                                       "revision abc has not all 2 replicas Ready")]

CASES = {
    "never-observed": (rollout(1, None, []), "Progressing",
                       "Waiting for the operator to observe the rollout"),
    "new-generation": (rollout(3, 2, STEADY), "Progressing",
                       "Waiting for the operator to observe generation 3 (observed 2)"),
    "healthy": (rollout(2, 2, STEADY), "Healthy",
                "StableReady: revision abc serves all traffic"),
    "rolling": (rollout(2, 2, ROLLING), "Progressing",
                "RolloutInProgress: candidate def at step 2"),
    "paused": (rollout(2, 2, WAITING), "Suspended", "WaitingForPromotion: promote to continue"),
    "rolled-back": (rollout(2, 2, ROLLED_BACK), "Degraded",
                    "AnalysisFailed: errors: candidate worse than stable (p=0.001)"),
    "routing-failed-while-paused": (rollout(2, 2, ROUTING_FAILED), "Degraded",
                                    "TrafficRoutingFailed: HTTPRoute ml/web not found"),
    "stable-not-ready": (rollout(2, 2, NOT_READY), "Progressing",
                         "StableNotReady: revision abc has not all 2 replicas Ready"),
    "stale-healthy-condition": (rollout(2, 2, STEADY, condition_generation=1), "Progressing",
                                "StableReady: revision abc serves all traffic"),
    "no-conditions-yet": (rollout(1, 1, []), "Progressing",
                          "Waiting for the stable revision to become ready"),
}


def test_a_lua_interpreter_is_installed() -> None:
    assert INTERPRETERS, "no Lua interpreter: apt-get install lua5.1 lua5.4 (Debian)"


@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_health(interpreter: str, case: str, tmp_path: Path) -> None:
    obj, status, message = CASES[case]
    assert health(interpreter, obj, tmp_path) == (status, message)


def test_statuses_are_ones_argo_cd_knows() -> None:
    known = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
    assert {status for _, status, _ in CASES.values()} <= known
    text = SCRIPT.read_text()
    for word in ("goto", "//", "<const>", "<close>"):  # Lua 5.2+ syntax gopher-lua lacks
        assert word not in text
