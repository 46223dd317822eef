"""The few Kubernetes calls the operator makes, behind one small class (the imperative shell).

Writes are server-side apply under our own field manager, so GitOps tools that own other fields
of the same objects never fight with us; the operator never writes a ModelRollout's spec.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.api import GROUP, PLURAL, VERSION
from controller.operator.children import Manifest

FIELD_MANAGER = "modelrollout-operator"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"

log = logging.getLogger(__name__)


def not_found(error: ApiException) -> bool:
    return bool(error.status == 404)


# Server-side apply answers 500, not 422, when the manifest does not fit the Deployment schema
# (an unknown field, a malformed quantity): these messages are about the manifest.
_SCHEMA_REFUSALS = ("failed to create typed patch object", "unable to convert unstructured")


def template_refusal(error: ApiException) -> str | None:
    """The API server's message when it refused a manifest for what it says; None for any
    other failure (unavailable, forbidden), which is not the template's fault."""
    try:
        body = json.loads(error.body or "{}")
    except ValueError:
        body = {}
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    if error.status in (400, 422) or (
            error.status == 500 and any(m in message for m in _SCHEMA_REFUSALS)):
        return message or str(error.reason)
    return None


class AppliedCache:
    """What this process applied and when. Lost on restart by design: a new process re-applies
    everything once, and anything older than `ttl_seconds` is re-applied to repair drift."""

    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[tuple[str, str, str], tuple[str, float]] = {}
        # What our last write of an object left (a Deployment's generation, a ConfigMap's
        # resourceVersion): a watch event with another one is someone else's change.
        self._witnesses: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def fresh(self, key: tuple[str, str, str], fingerprint: str,
              within: float | None = None) -> bool:
        """Remembered with this fingerprint less than `within` (default: the ttl) ago."""
        with self._lock:
            entry = self._entries.get(key)
        limit = self.ttl_seconds if within is None else within
        return (entry is not None and entry[0] == fingerprint
                and time.monotonic() - entry[1] < limit)

    def age(self, key: tuple[str, str, str]) -> float | None:
        """Seconds since `key` was remembered; None if it never was (or was forgotten)."""
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else time.monotonic() - entry[1]

    def remember(self, key: tuple[str, str, str], fingerprint: str,
                 witness: str | None = None) -> None:
        with self._lock:
            self._entries[key] = (fingerprint, time.monotonic())
            if witness is not None:
                self._witnesses[key] = witness

    def witness(self, key: tuple[str, str, str]) -> str | None:
        """What our last write of `key` left, while it is remembered."""
        with self._lock:
            return self._witnesses.get(key) if key in self._entries else None

    def forget(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._witnesses.pop(key, None)


# What this process applied is a fact about the process: every Kube shares it.
APPLIED = AppliedCache()


class Kube:
    def __init__(self, api: client.ApiClient, applied: AppliedCache = APPLIED) -> None:
        self.api = api
        self.applied = applied
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.objects = client.CustomObjectsApi(api)
        self.networking = client.NetworkingV1Api(api)
        self.rbac = client.RbacAuthorizationV1Api(api)

    # --- ModelRollouts --------------------------------------------------------------------------

    def get_rollout(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            body = self.objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                             name)
        except ApiException as error:
            if not_found(error):
                return None
            raise
        assert isinstance(body, dict)
        return body

    def replace_status(self, body: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        """Write the whole status (a merge patch could not drop a nested field), guarded by
        the resourceVersion we read: a 409 means we decided on a stale object. Returns the
        object as the write left it."""
        meta = body["metadata"]
        written = self.objects.replace_namespaced_custom_object_status(
            GROUP, VERSION, meta["namespace"], PLURAL, meta["name"], {**body, "status": status})
        assert isinstance(written, dict)
        return written

    # --- children ---------------------------------------------------------------------------------

    def apply(self, manifest: Manifest) -> None:
        """Server-side apply, skipped when this process applied the same manifest recently:
        a steady rollout then costs two reads per reconcile instead of a write per child."""
        kind, meta = manifest["kind"], manifest["metadata"]
        key = (kind, meta["namespace"], meta["name"])
        fingerprint = json.dumps(manifest, sort_keys=True)
        if self.applied.fresh(key, fingerprint):
            return
        arguments: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force": True,
                                     "_content_type": APPLY}
        witness = None
        if kind == "Deployment":
            applied = self.apps.patch_namespaced_deployment(meta["name"], meta["namespace"],
                                                            manifest, **arguments)
            witness = str(applied.metadata.generation if applied.metadata else None)
        elif kind == "Service":
            self.core.patch_namespaced_service(meta["name"], meta["namespace"], manifest,
                                               **arguments)
        elif kind == "ConfigMap":
            written = self.core.patch_namespaced_config_map(meta["name"], meta["namespace"],
                                                            manifest, **arguments)
            witness = str(written.metadata.resource_version if written.metadata else None)
        elif kind == "NetworkPolicy":
            self.networking.patch_namespaced_network_policy(meta["name"], meta["namespace"],
                                                            manifest, **arguments)
        elif kind == "ServiceAccount":
            self.core.patch_namespaced_service_account(meta["name"], meta["namespace"],
                                                       manifest, **arguments)
        elif kind == "Role":
            self.rbac.patch_namespaced_role(meta["name"], meta["namespace"], manifest,
                                            **arguments)
        elif kind == "RoleBinding":
            self.rbac.patch_namespaced_role_binding(meta["name"], meta["namespace"], manifest,
                                                    **arguments)
        else:
            raise ValueError(f"cannot apply kind {kind}")
        self.applied.remember(key, fingerprint, witness)

    def dry_run_deployment(self, manifest: Manifest) -> str | None:
        """Why the API server would refuse this Deployment (server-side apply, dryRun=All,
        strict field validation), or None; passing results are remembered like applies."""
        meta = manifest["metadata"]
        key = ("DryRun", meta["namespace"], meta["name"])
        fingerprint = json.dumps(manifest, sort_keys=True)
        if self.applied.fresh(key, fingerprint):
            return None
        try:
            self.apps.patch_namespaced_deployment(
                meta["name"], meta["namespace"], manifest, field_manager=FIELD_MANAGER,
                force=True, dry_run="All", field_validation="Strict", _content_type=APPLY)
        except ApiException as error:
            refusal = template_refusal(error)
            if refusal is None:
                raise
            return refusal
        self.applied.remember(key, fingerprint)
        return None

    def create_secret_once(self, manifest: Manifest) -> None:
        """Create a Secret unless it exists: its content is made once (a random token) and
        never rewritten, so the operator needs no right to read Secrets. One that exists gets
        the manifest's owners and labels (a rollout deleted and created again with the same
        name owns it anew, or the garbage collector would delete it with the old one)."""
        meta = manifest["metadata"]
        key = ("Secret", meta["namespace"], meta["name"])
        owners = json.dumps(meta.get("ownerReferences"), sort_keys=True)
        if self.applied.fresh(key, owners):
            return
        try:
            body: Any = manifest  # the client serialises a plain manifest as it is
            self.core.create_namespaced_secret(meta["namespace"], body,
                                               field_manager=FIELD_MANAGER)
        except ApiException as error:
            if error.status != 409:
                raise
            # A merge patch of metadata only: never the token, and a 404 (not an empty
            # Secret) if it went away in between.
            self.core.patch_namespaced_secret(
                meta["name"], meta["namespace"],
                {"metadata": {"ownerReferences": meta.get("ownerReferences"),
                              "labels": meta.get("labels")}},
                field_manager=FIELD_MANAGER, _content_type=MERGE)
        self.applied.remember(key, owners)

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        """Scale a revision whose template is no longer in spec (it cannot be re-applied)."""
        self.apps.patch_namespaced_deployment_scale(
            name, namespace, {"spec": {"replicas": replicas}}, field_manager=FIELD_MANAGER,
            _content_type=MERGE)

    def delete_deployment(self, namespace: str, name: str) -> None:
        self.applied.forget(("Deployment", namespace, name))
        try:
            self.apps.delete_namespaced_deployment(name, namespace,
                                                   propagation_policy="Background")
        except ApiException as error:
            if not not_found(error):
                raise

    def list_services(self, namespace: str, selector: str) -> list[client.V1Service]:
        return list(self.core.list_namespaced_service(namespace, label_selector=selector).items)

    def delete_service(self, namespace: str, name: str) -> None:
        self.applied.forget(("Service", namespace, name))
        try:
            self.core.delete_namespaced_service(name, namespace)
        except ApiException as error:
            if not not_found(error):
                raise

    def read_config_map(self, namespace: str, name: str) -> client.V1ConfigMap | None:
        try:
            return self.core.read_namespaced_config_map(name, namespace)
        except ApiException as error:
            if not_found(error):
                return None
            raise

    # --- events -----------------------------------------------------------------------------------

    def post_event(self, rollout: dict[str, Any], type_: str, reason: str, message: str,
                   name: str | None = None) -> bool:
        """Best effort, on any error (an Event never fails a reconcile): True once the API
        holds it. With a `name`, an Event of that name already there counts as posted, so
        that posting again after a lost answer never doubles it."""
        meta = rollout["metadata"]
        now = datetime.now(UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=name, namespace=meta["namespace"],
                                         generate_name=None if name else f"{meta['name']}."),
            involved_object=client.V1ObjectReference(
                api_version=rollout["apiVersion"], kind=rollout["kind"], name=meta["name"],
                namespace=meta["namespace"], uid=meta["uid"],
                resource_version=meta.get("resourceVersion")),
            type=type_, reason=reason, message=message[:1024], first_timestamp=now,
            last_timestamp=now, count=1, source=client.V1EventSource(component=FIELD_MANAGER),
            reporting_component=FIELD_MANAGER, reporting_instance=FIELD_MANAGER,
        )
        try:
            self.core.create_namespaced_event(meta["namespace"], event)
        except ApiException as error:
            if name is not None and error.status == 409:
                return True
            log.warning("could not post Event %s for %s: %s %s", reason, meta["name"],
                        error.status, error.reason)
            return False
        except Exception as error:  # connection errors, timeouts: posted again later
            log.warning("could not post Event %s for %s: %r", reason, meta["name"], error)
            return False
        return True
