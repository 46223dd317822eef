"""Helpers of the fault tests (tests/integration/test_faults.py, bench/api_outage.py): a control
plane of their own whose processes they kill and freeze, the operator against it, a routing
table recorder that survives an API outage, and an admission webhook that hangs on Events."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from tests.cluster.controlplane import ControlPlane, install_crds
from tests.integration.conftest import REPO, RESTRICTED
from tests.integration.rollouts import candidate_weight_changes

KCM, APISERVER = "kube-controller-manager", "kube-apiserver"


def plane_api(plane: ControlPlane) -> client.ApiClient:
    install_crds(plane.kubeconfig, REPO / "crds")
    api = config.new_client_from_config(config_file=str(plane.kubeconfig))
    assert isinstance(api, client.ApiClient)
    return api


def new_namespace(api: client.ApiClient) -> str:
    name = f"f-{uuid.uuid4().hex[:10]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(
        metadata=client.V1ObjectMeta(name=name, labels=RESTRICTED)))
    return name


def owner_uids(obj: Any) -> list[str]:
    return [o.uid for o in (obj.metadata.owner_references or ())]


class ReconnectingTableRecorder:
    """Every version of `<name>-routing`, through a watch that resumes after the API server
    went away (from the last resourceVersion seen, so no version in between is missed)."""

    def __init__(self, api: client.ApiClient, namespace: str, name: str) -> None:
        self.core = client.CoreV1Api(api)
        self.namespace, self.config_map = namespace, f"{name}-routing"
        self.tables: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        resource_version = ""
        while not self._stopped.is_set():
            self._watch = watch.Watch()
            try:
                for event in self._watch.stream(
                        self.core.list_namespaced_config_map, self.namespace,
                        field_selector=f"metadata.name={self.config_map}",
                        resource_version=resource_version, timeout_seconds=60,
                        _request_timeout=(2, 70)):
                    found = event["object"]
                    resource_version = found.metadata.resource_version
                    data = found.data or {}
                    if event["type"] in ("ADDED", "MODIFIED") and "table.json" in data:
                        table = json.loads(data["table.json"])
                        with self._lock:
                            if not self.tables or self.tables[-1]["version"] != table["version"]:
                                self.tables.append(table)
            except client.ApiException as error:
                if error.status == 410:  # older than the restarted server's cache: list again
                    resource_version = ""
                self._stopped.wait(0.1)
            except Exception:  # the API server is away: watch again once it answers
                self._stopped.wait(0.1)

    def stop(self) -> None:
        self._stopped.set()
        if self._watch is not None:
            self._watch.stop()

    def candidate_weights(self) -> list[int | None]:
        with self._lock:
            return candidate_weight_changes(self.tables)

    def versions(self) -> list[int]:
        with self._lock:
            return [t["version"] for t in self.tables]


class HangingWebhook:
    """A validating admission webhook on Events of one namespace that never answers while
    `hanging` (the API server gives up after its timeout and, failurePolicy Fail, refuses the
    Event); the operator's POST meanwhile hits its own client timeout: a connection error
    after the status write."""

    def __init__(self, api: client.ApiClient, namespace: str, workdir: Path) -> None:
        self.api, self.namespace = api, namespace
        key, cert = workdir / "webhook.key", workdir / "webhook.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True,
                       capture_output=True)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._cert = cert.read_bytes()  # the caBundle must parse; no handshake ever happens
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        self.name = f"hang-events-{namespace}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(connection)  # never answered: the API server times out

    def install(self) -> None:
        configuration: Any = {"apiVersion": "admissionregistration.k8s.io/v1",
             "kind": "ValidatingWebhookConfiguration", "metadata": {"name": self.name},
             "webhooks": [{
                 "name": "hang.events.test", "admissionReviewVersions": ["v1"],
                 "sideEffects": "None", "failurePolicy": "Fail", "timeoutSeconds": 5,
                 "clientConfig": {"url": f"https://127.0.0.1:{self.port}/",
                                  "caBundle": base64.b64encode(self._cert).decode()},
                 "namespaceSelector": {"matchLabels": {
                     "kubernetes.io/metadata.name": self.namespace}},
                 "rules": [{"apiGroups": [""], "apiVersions": ["v1"],
                            "operations": ["CREATE"], "resources": ["events"]}]}]}
        client.AdmissionregistrationV1Api(self.api).create_validating_webhook_configuration(
            configuration)

    def remove(self) -> None:
        client.AdmissionregistrationV1Api(self.api).delete_validating_webhook_configuration(
            self.name)

    def close(self) -> None:
        self._listener.close()
        for connection in self._held:
            connection.close()


def wait_ready(plane: ControlPlane, timeout: float = 120) -> float:
    """Poll /readyz every 20 ms; the monotonic time it first answered ok."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if plane.apiserver_ready():
            return time.monotonic()
        time.sleep(0.02)  # the probe's own pace: the measurement's resolution
    raise TimeoutError("kube-apiserver not ready again")
