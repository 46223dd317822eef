"""Rendering the Helm chart (charts/modelrollout) in tests, with helm built from source."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "modelrollout"

# Value sets the tests render: the defaults, and every optional part switched on.
EVERYTHING: dict[str, Any] = {
    "rbac": {"gatewayAPI": True, "istio": True},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "prometheusRule": {"enabled": True, "operatorAlerts": True},
    "grafanaDashboard": {"enabled": True},
    "watchNamespaces": ["team-a", "team-b"],
    "extraEnv": [{"name": "EXTRA", "value": "1"}],
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops",
                     "effect": "NoSchedule"}],
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "podAnnotations": {"example.com/team": "ml"},
    "imagePullSecrets": [{"name": "registry"}],
    "priorityClassName": "system-cluster-critical",
    "verbose": True,
}


def helm_run(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, check=False)


def values_file(values: dict[str, Any], directory: Path) -> Path:
    path = directory / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def render(helm: Path, values: dict[str, Any], *, release: str = "mro",
           namespace: str = "modelrollout-system", include_crds: bool = False) -> str:
    """`helm template` output; raises AssertionError with helm's message if it fails."""
    with tempfile.TemporaryDirectory(prefix="chart-values-") as directory:
        args = ["template", release, str(CHART), "--namespace", namespace,
                "--values", str(values_file(values, Path(directory)))]
        if include_crds:
            args.append("--include-crds")
        result = helm_run(helm, *args)
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return result.stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [d for d in by_kind(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} named *{name_suffix}, got {len(found)}"
    return found[0]


def env_of(helm: Path, values: dict[str, Any]) -> dict[str, str]:
    """The operator container's environment as the chart renders it with `values`."""
    container = one(documents(render(helm, values)), "Deployment")["spec"]["template"][
        "spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}
