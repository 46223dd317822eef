"""Helpers for rollout tests against the real control plane: manifests, edits, commands, and a
recorder of every routing table the operator writes."""

from __future__ import annotations

import json
import threading
from typing import Any

from kubernetes import client, watch

from controller.api import GROUP, PLURAL, VERSION
from controller.rollout.commands import COMMAND_ANNOTATION
from tests.helpers import eventually


def manifest(name: str, image: str, strategy: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelRollout", "metadata": {"name": name},
        "spec": {
            "replicas": 1, "port": 8080,
            "template": {"spec": {"containers": [{"name": "server", "image": image}]}},
            "strategy": strategy, **spec,
        },
    }


def canary(*steps: dict[str, Any], scale_down_delay: int = 0) -> dict[str, Any]:
    return {"canary": {"steps": list(steps), "scaleDownDelaySeconds": scale_down_delay}}


class Rollouts:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.objects = client.CustomObjectsApi(api)

    def create(self, body: dict[str, Any]) -> None:
        self.objects.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                     body)

    def get(self, name: str) -> dict[str, Any]:
        body = self.objects.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                         name)
        assert isinstance(body, dict)
        return body

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get(name).get("status") or {}
        return status

    def patch(self, name: str, patch: dict[str, Any]) -> None:
        self.objects.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name,
                                                    patch)

    def set_image(self, name: str, image: str) -> None:
        template = self.get(name)["spec"]["template"]
        template["spec"]["containers"][0]["image"] = image
        self.patch(name, {"spec": {"template": template}})

    def command(self, name: str, value: str) -> None:
        self.patch(name, {"metadata": {"annotations": {COMMAND_ANNOTATION: value}}})

    def delete(self, name: str) -> None:
        self.objects.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                     name)

    def condition(self, name: str, type_: str) -> tuple[str, str] | None:
        for found in self.status(name).get("conditions", []):
            if found["type"] == type_:
                return found["status"], found["reason"]
        return None

    def wait_condition(self, name: str, type_: str, value: str, timeout: float = 60,
                       reason: str | None = None) -> dict[str, Any]:
        def matches() -> dict[str, Any] | None:
            found = self.condition(name, type_)
            ok = found is not None and found[0] == value and reason in (None, found[1])
            return self.status(name) if ok else None

        return eventually(matches, f"{name}: {type_}={value} {reason or ''}", timeout)

    def wait_status(self, name: str, what: str, check: Any, timeout: float = 60) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            status = self.status(name)
            return status if check(status) else None

        return eventually(probe, f"{name}: {what}", timeout)

    def events(self, name: str) -> list[client.CoreV1Event]:
        return list(client.CoreV1Api(self.api).list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}").items)

    def reasons(self, name: str) -> list[str]:
        return [e.reason or "" for e in self.events(name)]


def candidate_weight_changes(tables: list[dict[str, Any]]) -> list[int | None]:
    """The candidate's live weight (percent) table after table, each change once; None: no
    candidate in the table."""
    weights: list[int | None] = []
    for table in tables:
        candidate = table.get("candidate")
        weight = None if candidate is None else candidate["weightBp"] // 100
        if not weights or weights[-1] != weight:
            weights.append(weight)
    return weights


class TableRecorder:
    """Watches `<name>-routing` and keeps every routing table version the operator wrote."""

    def __init__(self, api: client.ApiClient, namespace: str, name: str) -> None:
        self.core = client.CoreV1Api(api)
        self.namespace, self.config_map = namespace, f"{name}-routing"
        self.tables: list[dict[str, Any]] = []
        self.resource_versions: list[int] = []  # of the ConfigMap, per table in `tables`
        self._lock = threading.Lock()
        self._watch = watch.Watch()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._record()
        except Exception:  # the connection closes under us when the test stops watching
            if not self._stopped:
                raise

    def _record(self) -> None:
        stream = self._watch.stream(self.core.list_namespaced_config_map, self.namespace,
                                    field_selector=f"metadata.name={self.config_map}",
                                    timeout_seconds=600)
        for event in stream:
            data = event["object"].data or {}
            if event["type"] in ("ADDED", "MODIFIED") and "table.json" in data:
                table = json.loads(data["table.json"])
                with self._lock:
                    if not self.tables or self.tables[-1]["version"] != table["version"]:
                        self.tables.append(table)
                        self.resource_versions.append(
                            int(event["object"].metadata.resource_version))

    def stop(self) -> None:
        self._stopped = True
        self._watch.stop()

    def versions(self) -> list[int]:
        with self._lock:
            return [t["version"] for t in self.tables]

    def candidate_weights(self) -> list[int | None]:
        with self._lock:
            return candidate_weight_changes(self.tables)

    def last(self) -> dict[str, Any]:
        with self._lock:
            return self.tables[-1]

    def last_resource_version(self) -> int:
        with self._lock:
            return self.resource_versions[-1]


class ScaleToZeroRecorder:
    """The resourceVersion at which a Deployment's spec first asked for 0 replicas.
    resourceVersions are etcd revisions here, one order across objects, so they tell which of
    two writes landed first."""

    def __init__(self, api: client.ApiClient, namespace: str, name: str) -> None:
        self.apps = client.AppsV1Api(api)
        self.namespace, self.name = namespace, name
        self.resource_version: int | None = None
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._watch.stream(self.apps.list_namespaced_deployment, self.namespace,
                                            field_selector=f"metadata.name={self.name}",
                                            timeout_seconds=600):
                deployment = event["object"]
                if deployment.spec.replicas == 0 and self.resource_version is None:
                    self.resource_version = int(deployment.metadata.resource_version)
        except Exception:  # the connection closes under us when the test stops watching
            return

    def stop(self) -> None:
        self._watch.stop()
