"""Run `kubectl modelrollout` in-process against the real control plane, and build the
ModelRollouts and credentials its tests need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from controller.plugin.__main__ import main
from tests.integration.rollouts import Rollouts, canary, manifest


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Plugin = Callable[..., Result]


@pytest.fixture
def plugin(kubeconfig: Path, namespace: str, capsys: pytest.CaptureFixture[str]) -> Plugin:
    """`plugin("status", "x")` runs the plugin on the test's namespace; `config=` swaps the
    kubeconfig (e.g. one whose credentials lack permissions)."""

    def run(*args: str, config: Path | None = None) -> Result:
        capsys.readouterr()  # drop anything printed before
        code = main(["--kubeconfig", str(config or kubeconfig), "-n", namespace, *args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def rollouts(api: client.ApiClient, namespace: str) -> Rollouts:
    return Rollouts(api, namespace)


def paused_canary(name: str) -> dict[str, object]:
    """20% live, then a pause that waits for `promote`, then 50%."""
    return manifest(name, "model:1", canary({"setWeight": 20}, {"pause": {}}, {"setWeight": 50}))


def start_candidate(rollouts: Rollouts, name: str) -> dict[str, object]:
    """Create the rollout, let v1 become stable, roll out v2 up to its pause step."""
    rollouts.create(paused_canary(name))
    rollouts.wait_condition(name, "Healthy", "True")
    rollouts.set_image(name, "model:2")
    return rollouts.wait_condition(name, "Paused", "True", reason="WaitingForPromotion")


def write_kubeconfig(path: Path, server: str, token: str, namespace: str) -> Path:
    document = {
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "c", "cluster": {"server": server,
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u",
                                                  "namespace": namespace}}],
    }
    path.write_text(yaml.safe_dump(document))
    return path
