"""The processes the example tests share: model servers, Prometheus, the operator, and per case
a model router and a test metrics exporter.

As in examples/demo/stack.py, kwok's pods are not processes: each revision answers from a local
model server, and the operator is told where through MODELROLLOUT_ADDRESSES (revision ->
host:port). Every revision any case will create is known before the operator starts.

Prometheus discovers scrape targets from a file (file_sd), so each case adds its router (and
its exporter) while it runs, labelled as the cluster's pod scraping would label them
(`namespace`, `pod`): the operator's default query scope selects them as it would in a cluster.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.metrics_endpoint import MetricsEndpoint
from tests.cluster.processes import Service, free_port, spawn, stop, wait_until
from tests.cluster.prometheus import Prometheus, start_prometheus

MODELS = ("v1", "v2", "v3")  # baseline, worse (noisy labels), better (more data)
TARGETS_FILE = "targets.json"


def _ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def _file_sd_config(targets_file: Path) -> str:
    return ("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n- job_name: examples\n"
            f"  file_sd_configs:\n  - files: ['{targets_file}']\n    refresh_interval: 1s\n")


@dataclass
class ExampleStack:
    workdir: Path
    kubeconfig: Path
    models: Path
    services: list[Service] = field(default_factory=list)
    model_ports: dict[str, int] = field(default_factory=dict)
    prometheus: Prometheus | None = None
    operator: Service | None = None
    addresses: dict[str, str] = field(default_factory=dict)  # revision -> host:port
    _targets: dict[str, dict[str, object]] = field(default_factory=dict)
    _dead: socket.socket | None = None

    def python(self, name: str, *args: str, env: dict[str, str] | None = None) -> Service:
        service = spawn(name, [sys.executable, *args], self.workdir / "logs",
                        env={**os.environ, **(env or {})})
        self.services.append(service)
        return service

    # --- shared ---------------------------------------------------------------------------

    def train(self) -> None:
        if not (self.models / "holdout.json").exists():
            trainer = self.python("train", "-m", "controller.modelserver.train",
                                  "--out", str(self.models))
            wait_until(lambda: not trainer.alive() and (self.models / "holdout.json").exists(),
                       "the models trained", 300)
            self.services.remove(trainer)  # done: its exit is not a failure

    def start_models(self) -> None:
        for version in MODELS:
            port = free_port()
            self.model_ports[version] = port
            self.python(f"model-{version}", "-m", "controller.modelserver", "--host",
                        "127.0.0.1", "--port", str(port), "--model",
                        str(self.models / f"{version}.joblib"))
        for version, port in self.model_ports.items():
            wait_until(lambda p=port: _ok(f"http://127.0.0.1:{p}/healthz"),  # type: ignore[misc]
                       f"model server {version}", 60, self.services)

    def model_address(self, version: str) -> str:
        return f"127.0.0.1:{self.model_ports[version]}"

    @property
    def dead_address(self) -> str:
        """A port that is bound but never listens: every connection is refused, like a model
        server that failed to start. Kept bound so nothing else takes it."""
        if self._dead is None:
            self._dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._dead.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{self._dead.getsockname()[1]}"

    def start_prometheus(self) -> None:
        # Started with no target, then switched to file-based discovery and reloaded.
        prometheus = start_prometheus(self.workdir / "prometheus", [])
        targets = self.workdir / "prometheus" / TARGETS_FILE
        targets.write_text("[]")
        prometheus.config.write_text(_file_sd_config(targets))
        request = urllib.request.Request(f"{prometheus.url}/-/reload", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        self.prometheus = prometheus

    @property
    def prometheus_url(self) -> str:
        assert self.prometheus is not None
        return self.prometheus.url

    def start_operator(self, addresses: dict[str, str]) -> None:
        self.addresses = dict(addresses)
        self.operator = self.python("operator", "-m", "controller", env={
            "KUBECONFIG": str(self.kubeconfig),
            "MODELROLLOUT_ADDRESSES": json.dumps(addresses),
            # Prometheus scrapes every second here, so shorter windows still hold scrapes.
            "MODELROLLOUT_MIN_WINDOW_SECONDS": "6",
        })

    # --- per case -------------------------------------------------------------------------

    def _write_targets(self) -> None:
        path = self.workdir / "prometheus" / TARGETS_FILE
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(list(self._targets.values())))
        scratch.replace(path)  # Prometheus never reads half a file

    def _scrape(self, key: str, target: str, labels: dict[str, str]) -> None:
        self._targets[key] = {"targets": [target], "labels": labels}
        self._write_targets()
        assert self.prometheus is not None
        prometheus = self.prometheus
        wait_until(lambda: bool(prometheus.query(f'up{{instance="{target}"}} == 1')),
                   f"Prometheus scraping {key}", 60)

    def _unscrape(self, key: str) -> None:
        self._targets.pop(key, None)
        self._write_targets()

    @contextmanager
    def router(self, namespace: str, name: str) -> Iterator[str]:
        """The rollout's model router as a local process, following `<name>-routing`, scraped
        as its pod would be; yields its serving address."""
        port, admin = free_port(), free_port()
        service = self.python(f"router-{namespace}", "-m", "controller.router",
                              "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}",
                              "--table-configmap", f"{namespace}/{name}-routing",
                              env={"KUBECONFIG": str(self.kubeconfig)})
        try:
            wait_until(lambda: _ok(f"http://127.0.0.1:{admin}/healthz"), "the router", 60,
                       [service])
            self._scrape(f"router-{namespace}", f"127.0.0.1:{admin}",
                         {"namespace": namespace, "pod": f"{name}-router-local"})
            yield f"127.0.0.1:{port}"
        finally:
            self._unscrape(f"router-{namespace}")
            stop([service])
            self.services.remove(service)

    @contextmanager
    def exporter(self, namespace: str) -> Iterator[MetricsEndpoint]:
        """A metrics endpoint for what the test's application or mesh would export."""
        endpoint = MetricsEndpoint()
        try:
            self._scrape(f"exporter-{namespace}", endpoint.target, {"namespace": namespace})
            yield endpoint
        finally:
            self._unscrape(f"exporter-{namespace}")
            endpoint.close()

    def close(self) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
        stop(self.services)
        if self._dead is not None:
            self._dead.close()
