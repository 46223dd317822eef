"""Manifests of the objects a ModelRollout owns: one Deployment per revision, the Services the
traffic routers address, and the shadows'. Pure functions of (rollout, spec, revision)."""

from __future__ import annotations

import copy
from typing import Any

from controller.api import API_VERSION, GROUP, KIND
from controller.api.spec import ModelRolloutSpec
from controller.api.template import PodTemplate
from controller.rollout.ref import RolloutRef

Manifest = dict[str, Any]

ROLLOUT_LABEL = f"{GROUP}/rollout"
REVISION_LABEL = f"{GROUP}/revision"
ROLE_LABEL = f"{GROUP}/role"  # model | shadow | router: never on pods, roles change
SHADOW_LABEL = f"{GROUP}/shadow"
MANAGED_BY = {"app.kubernetes.io/managed-by": "modelrollout"}


def owner_reference(rollout: RolloutRef) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": KIND, "name": rollout.name, "uid": rollout.uid,
            "controller": True, "blockOwnerDeletion": True}


def deployment_name(rollout: RolloutRef, revision: str) -> str:
    return f"{rollout.name}-{revision}"


def shadow_deployment_name(rollout: RolloutRef, shadow: str, revision: str) -> str:
    return f"{rollout.name}-sh-{shadow}-{revision}"


def _pod_labels(rollout: RolloutRef, revision: str, shadow: str | None) -> dict[str, str]:
    labels = {ROLLOUT_LABEL: rollout.name, REVISION_LABEL: revision}
    if shadow is not None:
        labels[SHADOW_LABEL] = shadow
    return labels


# Pod Security "restricted" (https://kubernetes.io/docs/concepts/security/pod-security-standards/)
# for the pods of the user's template: each field is a default, set only where the template
# leaves it unset; an explicit value, even one that "restricted" refuses, is the user's choice.
TMP_VOLUME = "modelrollout-tmp"  # an emptyDir at /tmp where we made the root filesystem read-only
TMP_SIZE_LIMIT = "256Mi"
_ESCALATING_CAPABILITIES = frozenset({"SYS_ADMIN", "CAP_SYS_ADMIN"})


def restricted_defaults(pod_spec: dict[str, Any]) -> None:
    """Fill in, in place, what "restricted" asks of a pod and the template does not say:
    runAsNonRoot and the RuntimeDefault seccomp profile (pod level); per container and init
    container no privilege escalation, all capabilities dropped, a read-only root filesystem
    (with an emptyDir at /tmp unless something is mounted there already)."""
    # Windows pods may set none of the Linux-only fields (seccomp, capabilities, read-only root).
    windows = (pod_spec.get("os") or {}).get("name") == "windows"
    security = pod_spec.setdefault("securityContext", {})
    if isinstance(security, dict):  # anything else is refused by the API server anyway
        security.setdefault("runAsNonRoot", True)
        if not windows:
            security.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    if windows:
        return
    containers = [c for key in ("initContainers", "containers")
                  for c in pod_spec.get(key) or () if isinstance(c, dict)]
    wants_tmp = [c for c in containers if _container_defaults(c)]
    volumes = pod_spec.get("volumes") or []
    if not wants_tmp or any(isinstance(v, dict) and v.get("name") == TMP_VOLUME
                            for v in volumes):
        return
    pod_spec["volumes"] = [*volumes, {"name": TMP_VOLUME,
                                      "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}}]
    for container in wants_tmp:
        mounts = container.get("volumeMounts") or []
        container["volumeMounts"] = [*mounts, {"name": TMP_VOLUME, "mountPath": "/tmp"}]


def _container_defaults(container: dict[str, Any]) -> bool:
    """The Linux container fields; True if it now has a read-only root filesystem that we
    chose and nothing mounted at /tmp (it gets the emptyDir)."""
    security = container.setdefault("securityContext", {})
    if not isinstance(security, dict):
        return False
    capabilities = security.setdefault("capabilities", {})
    if isinstance(capabilities, dict):
        capabilities.setdefault("drop", ["ALL"])
        added = set(capabilities.get("add") or ())
    else:
        added = set()
    # The API server refuses allowPrivilegeEscalation: false beside privileged or SYS_ADMIN.
    if not security.get("privileged") and not added & _ESCALATING_CAPABILITIES:
        security.setdefault("allowPrivilegeEscalation", False)
    if "readOnlyRootFilesystem" in security:
        return False
    security["readOnlyRootFilesystem"] = True
    mounts = container.get("volumeMounts") or []
    return not any(isinstance(m, dict) and str(m.get("mountPath", "")).rstrip("/") == "/tmp"
                   for m in mounts)


def model_deployment(rollout: RolloutRef, template: PodTemplate, revision: str, replicas: int,
                     shadow: str | None = None) -> Manifest:
    """A Deployment for one revision of the model (or of a shadow); its pods carry the
    revision label that the Services select on, and restricted defaults where the template
    sets nothing (restricted_defaults)."""
    pod_template = template.model_dump(by_alias=True, exclude_none=True)
    pod_template = copy.deepcopy(pod_template)
    restricted_defaults(pod_template["spec"])
    metadata = pod_template.setdefault("metadata", {})
    selector = _pod_labels(rollout, revision, shadow)
    metadata["labels"] = {**metadata.get("labels", {}), **selector}
    name = (deployment_name(rollout, revision) if shadow is None
            else shadow_deployment_name(rollout, shadow, revision))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": rollout.namespace,
            "labels": {**selector, **MANAGED_BY, ROLE_LABEL: "shadow" if shadow else "model"},
            "ownerReferences": [owner_reference(rollout)],
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 1,
            "selector": {"matchLabels": selector},
            "template": pod_template,
        },
    }


def service(rollout: RolloutRef, name: str, spec: ModelRolloutSpec, selector: dict[str, str],
            role: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": rollout.namespace,
            "labels": {ROLLOUT_LABEL: rollout.name, ROLE_LABEL: role, **MANAGED_BY},
            "ownerReferences": [owner_reference(rollout)],
        },
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": spec.port, "protocol": "TCP",
                       "targetPort": spec.target_port or spec.port}],
        },
    }


def revision_services(rollout: RolloutRef, spec: ModelRolloutSpec, stable: str,
                      candidate: str | None) -> list[Manifest]:
    """`<name>-stable` and `<name>-candidate` (the preview address in blue/green); with no
    candidate the candidate Service selects stable, so zero-weight references stay valid."""
    return [
        service(rollout, rollout.stable_service, spec,
                {ROLLOUT_LABEL: rollout.name, REVISION_LABEL: stable}, "stable"),
        service(rollout, rollout.candidate_service, spec,
                {ROLLOUT_LABEL: rollout.name, REVISION_LABEL: candidate or stable}, "candidate"),
    ]


def shadow_service(rollout: RolloutRef, spec: ModelRolloutSpec, shadow: str,
                   revision: str) -> Manifest:
    selector = {ROLLOUT_LABEL: rollout.name, REVISION_LABEL: revision, SHADOW_LABEL: shadow}
    return service(rollout, rollout.shadow_service(shadow), spec, selector, "shadow")
