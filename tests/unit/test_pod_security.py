"""Pod Security "restricted" for every pod the operator creates: defaults in the user's model and
shadow templates (never over an explicit value), and the router's fixed pod; the router's own
ServiceAccount, Role and RoleBinding."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.api.routing import BuiltinRouter, RouterResources
from controller.api.template import PodTemplate
from controller.operator.children import (
    TMP_VOLUME,
    model_deployment,
    restricted_defaults,
)
from controller.operator.kube import AppliedCache, Kube
from controller.operator.settings import BuiltinRouterSettings
from controller.rollout.ref import RolloutRef
from controller.traffic.base import RouterError
from controller.traffic.builtin import apply_access
from controller.traffic.builtin_children import router_access_manifests, router_manifests

pytestmark = pytest.mark.unit

ROLLOUT = RolloutRef(name="fraud", namespace="ml", uid="u-1", port=8080)
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True}
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def pod_spec(**fields: Any) -> dict[str, Any]:
    return {"containers": [{"name": "server", "image": "model:1"}], **copy.deepcopy(fields)}


def defaulted(spec: dict[str, Any]) -> dict[str, Any]:
    restricted_defaults(spec)
    return spec


def violations(spec: dict[str, Any]) -> list[str]:
    """What Pod Security "restricted" (v1.36) would refuse in this pod spec: the checks of
    k8s.io/pod-security-admission/policy that the operator's defaults can affect."""
    found = []
    pod = spec.get("securityContext") or {}
    containers = [*spec.get("initContainers", []), *spec["containers"]]
    for container in containers:
        context = container.get("securityContext") or {}
        name = container["name"]
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation != false")
        if "ALL" not in (context.get("capabilities") or {}).get("drop", []):
            found.append(f"{name}: capabilities.drop does not hold ALL")
        if set((context.get("capabilities") or {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities.add beyond NET_BIND_SERVICE")
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            found.append(f"{name}: runAsNonRoot != true")
        profile = context.get("seccompProfile", pod.get("seccompProfile")) or {}
        if profile.get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile")
    return found


def test_a_bare_template_gets_every_restricted_field() -> None:
    spec = defaulted(pod_spec())
    assert spec["securityContext"] == RESTRICTED_POD
    [container] = spec["containers"]
    assert container["securityContext"] == RESTRICTED_CONTAINER
    assert container["volumeMounts"] == [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    assert spec["volumes"] == [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "256Mi"}}]
    assert violations(spec) == []


def test_init_containers_are_defaulted_too() -> None:
    spec = defaulted(pod_spec(initContainers=[{"name": "fetch", "image": "fetch:1"}]))
    assert spec["initContainers"][0]["securityContext"] == RESTRICTED_CONTAINER
    assert violations(spec) == []


def test_explicit_values_are_never_overridden() -> None:
    explicit = pod_spec(securityContext={"runAsNonRoot": False, "runAsUser": 0,
                                         "seccompProfile": {"type": "Unconfined"}})
    explicit["containers"][0]["securityContext"] = {
        "allowPrivilegeEscalation": True, "readOnlyRootFilesystem": False,
        "capabilities": {"drop": ["NET_RAW"], "add": ["NET_ADMIN"]}}
    spec = defaulted(copy.deepcopy(explicit))
    assert spec == explicit  # nothing added: every field was set
    assert len(violations(spec)) == 5  # the user's choice; refused in a restricted namespace


def test_defaults_fill_only_the_fields_left_unset() -> None:
    spec = pod_spec(securityContext={"runAsUser": 1000, "fsGroup": 2000})
    spec["containers"][0]["securityContext"] = {"capabilities": {"add": ["NET_BIND_SERVICE"]},
                                                "readOnlyRootFilesystem": False}
    spec = defaulted(spec)
    assert spec["securityContext"] == {"runAsUser": 1000, "fsGroup": 2000, **RESTRICTED_POD}
    assert spec["containers"][0]["securityContext"] == {
        "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
        "readOnlyRootFilesystem": False, "allowPrivilegeEscalation": False}
    assert "volumes" not in spec  # a writable root needs no /tmp of ours
    assert violations(spec) == []


def test_container_level_choices_win_over_the_pod_defaults() -> None:
    spec = pod_spec()
    spec["containers"][0]["securityContext"] = {"runAsNonRoot": False,
                                                "seccompProfile": {"type": "Unconfined"}}
    spec = defaulted(spec)
    assert spec["securityContext"] == RESTRICTED_POD  # the pod level default is still set
    assert spec["containers"][0]["securityContext"]["runAsNonRoot"] is False
    assert violations(spec) == ["server: runAsNonRoot != true", "server: seccompProfile"]


def test_privileged_or_sys_admin_containers_keep_privilege_escalation_unset() -> None:
    """The API server refuses allowPrivilegeEscalation: false beside either."""
    spec = pod_spec(containers=[
        {"name": "a", "image": "x", "securityContext": {"privileged": True}},
        {"name": "b", "image": "x", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}},
    ])
    spec = defaulted(spec)
    for container in spec["containers"]:
        assert "allowPrivilegeEscalation" not in container["securityContext"]


def test_an_existing_tmp_mount_or_volume_is_kept() -> None:
    mounted = pod_spec(volumes=[{"name": "scratch", "emptyDir": {}}])
    mounted["containers"][0]["volumeMounts"] = [{"name": "scratch", "mountPath": "/tmp/"}]
    spec = defaulted(mounted)
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {}}]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "scratch", "mountPath": "/tmp/"}]
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    taken = defaulted(pod_spec(volumes=[{"name": TMP_VOLUME, "configMap": {"name": "x"}}]))
    assert taken["volumes"] == [{"name": TMP_VOLUME, "configMap": {"name": "x"}}]
    assert "volumeMounts" not in taken["containers"][0]  # never mount the user's volume


def test_windows_pods_get_only_run_as_non_root() -> None:
    spec = defaulted(pod_spec(os={"name": "windows"}))
    assert spec["securityContext"] == {"runAsNonRoot": True}
    assert "securityContext" not in spec["containers"][0]
    assert "volumes" not in spec


def test_model_and_shadow_deployments_carry_the_defaults_but_keep_the_revision() -> None:
    template = PodTemplate.model_validate({"spec": pod_spec()})
    before = template.model_dump(by_alias=True, exclude_none=True)
    for shadow in (None, "challenger"):
        pod = model_deployment(ROLLOUT, template, "abc", 1, shadow=shadow)["spec"]["template"]
        assert violations(pod["spec"]) == []
        assert pod["spec"]["securityContext"] == RESTRICTED_POD
    assert template.model_dump(by_alias=True, exclude_none=True) == before  # not mutated


# --- the router -------------------------------------------------------------------------------


def router_pod(config: BuiltinRouter | None = None,
               settings: BuiltinRouterSettings | None = None) -> dict[str, Any]:
    deployment = router_manifests(ROLLOUT, config or BuiltinRouter(),
                                  settings or BuiltinRouterSettings())[0]
    assert deployment["kind"] == "Deployment"
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def test_the_router_pod_is_restricted_with_a_writable_tmp_only() -> None:
    pod = router_pod()
    assert violations(pod) == []
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's numeric user
    [container] = pod["containers"]
    assert container["securityContext"] == RESTRICTED_CONTAINER
    # writable: /tmp only; the admin token and the token keys are mounted read-only
    assert container["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "admin-token", "mountPath": "/var/run/secrets/modelrollout/router-admin",
         "readOnly": True},
        {"name": "token-keys", "mountPath": "/var/run/secrets/modelrollout/prediction-tokens",
         "readOnly": True}]
    assert pod["volumes"] == [
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        {"name": "admin-token", "secret": {"secretName": "fraud-router-admin",
                                           "defaultMode": 0o440}},
        {"name": "token-keys", "secret": {"secretName": "fraud-router-tokens",
                                          "defaultMode": 0o440}}]


def test_the_router_has_a_liveness_probe_on_the_admin_port() -> None:
    [container] = router_pod()["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9090}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9090}


def test_router_resources_come_from_the_settings_unless_the_rollout_sets_them() -> None:
    [container] = router_pod()["containers"]
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"memory": "512Mi"}}
    operator_default = BuiltinRouterSettings(resources=RouterResources.model_validate(
        {"requests": {"cpu": "1"}}))
    [container] = router_pod(settings=operator_default)["containers"]
    assert container["resources"] == {"requests": {"cpu": "1"}}
    per_rollout = BuiltinRouter.model_validate({"resources": {"limits": {"memory": "1Gi"}}})
    [container] = router_pod(per_rollout, operator_default)["containers"]
    assert container["resources"] == {"limits": {"memory": "1Gi"}}  # replaces as a whole


def test_the_router_runs_as_its_own_account_that_reads_only_its_table() -> None:
    settings = BuiltinRouterSettings()
    assert router_pod(settings=settings)["serviceAccountName"] == "fraud-router"
    account, role, binding = router_access_manifests(ROLLOUT, settings)
    assert [m["kind"] for m in (account, role, binding)] == [
        "ServiceAccount", "Role", "RoleBinding"]
    for manifest in (account, role, binding):
        meta = manifest["metadata"]
        assert (meta["namespace"], meta["name"]) == ("ml", "fraud-router")
        assert meta["ownerReferences"][0]["uid"] == "u-1"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "modelrollout"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                              "resourceNames": ["fraud-routing"], "verbs": ["list", "watch"]}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "fraud-router"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "fraud-router",
                                    "namespace": "ml"}]


def test_a_user_managed_router_account_wins_and_nothing_is_created_for_it() -> None:
    settings = BuiltinRouterSettings(service_account="shared-routers")
    assert router_pod(settings=settings)["serviceAccountName"] == "shared-routers"
    assert router_access_manifests(ROLLOUT, settings) == []


def test_a_forbidden_router_account_is_a_routing_failure_naming_the_fix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def forbidden(self: object, name: str, namespace: str, body: object, **_: object) -> None:
        calls.append(name)
        raise ApiException(status=403, reason="Forbidden")

    monkeypatch.setattr(client.CoreV1Api, "patch_namespaced_service_account", forbidden)
    kube = Kube(client.ApiClient(), AppliedCache())
    account = router_access_manifests(ROLLOUT, BuiltinRouterSettings())[0]
    with pytest.raises(RouterError, match="MODELROLLOUT_ROUTER_SERVICE_ACCOUNT") as raised:
        apply_access(kube, account)
    assert "ServiceAccount ml/fraud-router" in str(raised.value)
    assert calls == ["fraud-router"]


def test_router_access_is_applied_once_while_fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[tuple[str, str]] = []

    def patch(self: object, name: str, namespace: str, body: dict[str, Any],
              **arguments: Any) -> None:
        assert arguments["field_manager"] == "modelrollout-operator"
        assert arguments["_content_type"] == "application/apply-patch+yaml"
        applied.append((body["kind"], name))

    monkeypatch.setattr(client.CoreV1Api, "patch_namespaced_service_account", patch)
    monkeypatch.setattr(client.RbacAuthorizationV1Api, "patch_namespaced_role", patch)
    monkeypatch.setattr(client.RbacAuthorizationV1Api, "patch_namespaced_role_binding", patch)
    kube = Kube(client.ApiClient(), AppliedCache())
    for _ in range(2):
        for manifest in router_access_manifests(ROLLOUT, BuiltinRouterSettings()):
            apply_access(kube, manifest)
    assert applied == [("ServiceAccount", "fraud-router"), ("Role", "fraud-router"),
                       ("RoleBinding", "fraud-router")]
