"""The chart's PrometheusRule, checked and exercised with promtool (Debian's prometheus
package): the rules parse, and each alert fires on synthetic router/operator series."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart import documents, one, render
from tests.cluster.helm import ensure_helm

pytestmark = pytest.mark.unit

ROUTER_POD = 'namespace="ml",pod="fraud-detector-router-5d8f9c7b6-x2x9k"'


@pytest.fixture(scope="session")
def rule_groups() -> list[dict[str, Any]]:
    values = {"prometheusRule": {"enabled": True, "operatorAlerts": True}}
    rule = one(documents(render(ensure_helm(), values)), "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


@pytest.fixture(scope="session")
def promtool() -> str:
    found = shutil.which("promtool")
    assert found is not None, ("promtool not found: it comes with Debian's prometheus package "
                               "(.ci/system-deps installs it)")
    return found


def run(promtool: str, *args: str, cwd: Path) -> str:
    result = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_rules_are_valid_promql_and_templates(rule_groups: list[dict[str, Any]],
                                              promtool: str, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups}))
    output = run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert "SUCCESS: 7 rules found" in output, output


def without_annotations(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Annotation texts are checked by `promtool check rules`; the firing tests compare
    labels only."""
    return [{**group, "rules": [{k: v for k, v in rule.items() if k != "annotations"}
                                for rule in group["rules"]]} for group in groups]


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def alert(name: str, at: str, *expected: dict[str, str]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": name,
            "exp_alerts": [{"exp_labels": {"severity": "warning", **labels}}
                           for labels in expected]}


def test_alerts_fire_on_synthetic_series(rule_groups: list[dict[str, Any]], promtool: str,
                                         tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": without_annotations(rule_groups)}))
    requests = "modelrouter_requests_total"
    where = {"namespace": "ml", "rollout": "fraud-detector"}
    inputs = [
        # candidate: 10% of live requests answered 5xx; stable: 1% (under the 5% threshold)
        series(requests, f'{ROUTER_POD},variant="candidate",code="2xx"', "0+90x30"),
        series(requests, f'{ROUTER_POD},variant="candidate",code="5xx"', "0+10x30"),
        series(requests, f'{ROUTER_POD},variant="stable",code="2xx"', "0+99x30"),
        series(requests, f'{ROUTER_POD},variant="stable",code="5xx"', "0+1x30"),
        series("modelrouter_errors_total", f'{ROUTER_POD},variant="shadow-v3",reason="connect"',
               "0+3x30"),
        series("modelrouter_table_rejected_total", f'{ROUTER_POD},reason="invalid"',
               "0x10 1x20"),
        series("modelrollout_rollout_phase",
               'namespace="ml",rollout="fraud-detector",phase="Degraded"', "0x10 1x20"),
        series("modelrollout_rollout_phase",
               'namespace="ml",rollout="fraud-detector",phase="Healthy"', "1x10 0x20"),
        series("modelrollout_analysis_verdicts_total",
               'namespace="ml",rollout="fraud-detector",metric="errors",verdict="Error"',
               "0+1x30"),
        series("modelrollout_analysis_verdicts_total",
               'namespace="ml",rollout="fraud-detector",metric="slow",verdict="Pass"',
               "0+1x30"),
    ]
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": inputs,
            "promql_expr_test": [{
                # the rollout's name comes from the router pod's name
                "expr": "count by (namespace, rollout) (modelrollout:router_requests:rate5m)",
                "eval_time": "10m",
                "exp_samples": [{"labels": '{namespace="ml",rollout="fraud-detector"}',
                                 "value": 2}],
            }],
            "alert_rule_test": [
                alert("ModelRolloutRouterErrorRate", "3m"),  # not yet `for` 5m
                alert("ModelRolloutRouterErrorRate", "15m", {**where, "variant": "candidate"}),
                alert("ModelRolloutBackendUnreachable", "15m",
                      {**where, "variant": "shadow-v3", "reason": "connect"}),
                alert("ModelRolloutRoutingTableRejected", "5m"),
                alert("ModelRolloutRoutingTableRejected", "15m",
                      {**where, "reason": "invalid"}),
                alert("ModelRolloutDegraded", "5m"),
                alert("ModelRolloutDegraded", "15m", where),
                alert("ModelRolloutAnalysisFailing", "15m",
                      {**where, "metric": "errors", "verdict": "Error"}),
            ],
        }],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    output = run(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert "SUCCESS" in output


def test_operator_alerts_can_be_turned_off() -> None:
    values = {"prometheusRule": {"enabled": True, "operatorAlerts": False}}
    rule = one(documents(render(ensure_helm(), values)), "PrometheusRule")
    names = [r.get("alert") for g in rule["spec"]["groups"] for r in g["rules"]]
    assert "ModelRolloutDegraded" not in names
    assert "ModelRolloutRouterErrorRate" in names
