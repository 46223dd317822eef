"""Playing the other writers of a route: a GitOps tool (its own SSA manager) and a person."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from controller.operator.kube import APPLY, FIELD_MANAGER
from controller.traffic.managed import Resource

GITOPS_MANAGER = "argocd-controller"


def gitops_apply(api: client.ApiClient, resource: Resource, body: dict[str, Any]) -> None:
    """Server-side apply as the GitOps tool would (creates the object if absent)."""
    metadata = body["metadata"]
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        resource.group, resource.version, metadata["namespace"], resource.plural,
        metadata["name"], body, field_manager=GITOPS_MANAGER, force=True,
        _content_type=APPLY)


def hand_edit(api: client.ApiClient, resource: Resource, namespace: str, name: str,
              patch: dict[str, Any]) -> None:
    """A merge patch, as `kubectl edit` would send."""
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        resource.group, resource.version, namespace, resource.plural, name, patch,
        field_manager="kubectl-edit", _content_type="application/merge-patch+json")


def get(api: client.ApiClient, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
    found = client.CustomObjectsApi(api).get_namespaced_custom_object(
        resource.group, resource.version, namespace, resource.plural, name)
    assert isinstance(found, dict)
    return found


def owned_fields(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    """The union of what `manager` owns, as managedFields spells it (fieldsV1)."""
    owned: dict[str, Any] = {}
    for entry in obj["metadata"].get("managedFields") or []:
        if entry["manager"] == manager:
            owned.update(entry.get("fieldsV1") or {})
    return owned


def operator_owns_only(obj: dict[str, Any], field: str) -> bool:
    return owned_fields(obj, FIELD_MANAGER) == {"f:spec": {f"f:{field}": {}}}
