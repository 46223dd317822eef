"""The demo's processes around the local control plane: three model servers (v1, v2, v3), the
model router, Prometheus scraping it, and the operator.

kwok's pods are not processes, so each model revision answers from a local model server and
the operator is told where through MODELROLLOUT_ADDRESSES (revision -> host:port); the router
runs locally too and follows the routing table the operator writes into the ConfigMap.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.api import GROUP, VERSION
from controller.api.template import PodTemplate
from controller.rollout.revision import pod_template_revision
from tests.cluster.processes import Service, free_port, spawn, stop, wait_until
from tests.cluster.prometheus import Prometheus, start_prometheus

VERSIONS = ("v1", "v2", "v3")
NAMESPACE, NAME = "demo", "digits"


def template(version: str) -> dict[str, Any]:
    """The pod template of a model version, as a user would write it."""
    return {"metadata": {"labels": {"app": NAME}},
            "spec": {"containers": [{
                "name": "server", "image": "modelrollout/modelrollout:0.1.0",
                "args": ["modelserver"],
                "env": [{"name": "MODEL_URI", "value": f"file:///models/{version}.joblib"}],
                "ports": [{"containerPort": 8080}]}]}}


def demo_rollout(prometheus_url: str, steps: list[dict[str, Any]],
                 metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """The demo's ModelRollout at version v1: the builtin router, sticky on x-user-id and
    reading each answer's label, releasing by the canary `steps`, judged by `metrics`."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelRollout",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "replicas": 1, "port": 8080, "template": template("v1"),
            "trafficRouting": {"builtin": {"unit": {"header": "x-user-id"},
                                           "prediction": {"path": "predictions[0].label"}}},
            "strategy": {"canary": {"scaleDownDelaySeconds": 5, "steps": steps}},
            "analysis": {
                "intervalSeconds": 5, "minSamples": 100,
                "prometheus": {"address": prometheus_url, "timeoutSeconds": 5},
                "metrics": metrics,
            },
        },
    }


def revision(version: str) -> str:
    return pod_template_revision(PodTemplate.model_validate(template(version)))


def _healthz(port: int) -> Callable[[], bool]:
    return lambda: _ok(f"http://127.0.0.1:{port}/healthz")


def _ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


@dataclass
class Stack:
    workdir: Path
    kubeconfig: Path
    services: list[Service] = field(default_factory=list)
    model_ports: dict[str, int] = field(default_factory=dict)
    router_port: int = 0
    admin_port: int = 0
    prometheus: Prometheus | None = None

    def python(self, name: str, *args: str, env: dict[str, str] | None = None) -> Service:
        service = spawn(name, [sys.executable, *args], self.workdir / "logs",
                        env={**os.environ, **(env or {})})
        self.services.append(service)
        return service

    def train(self) -> Path:
        models = self.workdir / "models"
        if not (models / "holdout.json").exists():
            trainer = self.python("train", "-m", "controller.modelserver.train",
                                  "--out", str(models))
            wait_until(lambda: not trainer.alive() and (models / "holdout.json").exists(),
                       "the models trained", 300)
            self.services.remove(trainer)  # done: its exit is not a failure
        return models

    def start_models(self, models: Path) -> None:
        for version in VERSIONS:
            port = free_port()
            self.model_ports[version] = port
            self.python(f"model-{version}", "-m", "controller.modelserver", "--host",
                        "127.0.0.1", "--port", str(port), "--model",
                        str(models / f"{version}.joblib"))
        for version, port in self.model_ports.items():
            wait_until(_healthz(port), f"model server {version}", 60, self.services)

    def start_router(self) -> None:
        self.router_port, self.admin_port = free_port(), free_port()
        self.python("router", "-m", "controller.router",
                    "--listen", f"127.0.0.1:{self.router_port}",
                    "--admin", f"127.0.0.1:{self.admin_port}",
                    "--table-configmap", f"{NAMESPACE}/{NAME}-routing",
                    env={"KUBECONFIG": str(self.kubeconfig)})
        wait_until(lambda: _ok(f"http://127.0.0.1:{self.admin_port}/healthz"), "the router",
                   60, self.services)
        self.prometheus = start_prometheus(self.workdir / "prometheus",
                                           [f"127.0.0.1:{self.admin_port}"])

    def start_operator(self, **extra_env: str) -> None:
        addresses = {revision(v): f"127.0.0.1:{p}" for v, p in self.model_ports.items()}
        self.python("operator", "-m", "controller", env={**extra_env,
            "KUBECONFIG": str(self.kubeconfig),
            "MODELROLLOUT_ADDRESSES": json.dumps(addresses),
            # Prometheus scrapes the local router as a static target: no pod labels to match.
            "MODELROLLOUT_PROMETHEUS_SCOPE": 'job="targets"',
        })

    @property
    def prometheus_url(self) -> str:
        assert self.prometheus is not None
        return self.prometheus.url

    def close(self) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
        stop(self.services)
