"""Pod Security "restricted" against the real API server: the test namespaces enforce it (Pod
Security admission is built into kube-apiserver), and every pod the operator creates — the
router, the model revisions and the shadows — is admitted; a user's explicit choice that
violates it is kept, and refused."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.helpers import eventually
from tests.integration.conftest import RESTRICTED, OperatorProcess
from tests.integration.pod_security import admitted_pods, refused
from tests.integration.rollouts import Rollouts, canary, manifest

pytestmark = pytest.mark.integration


def bare_deployment(name: str) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[
                    client.V1Container(name="server", image="model:1")]))))


def model_deployments(api: client.ApiClient, namespace: str) -> list[str]:
    return [d.metadata.name for d in client.AppsV1Api(api).list_namespaced_deployment(
        namespace, label_selector="rollouts.mlops.dev/role=model").items
        if d.metadata and d.metadata.name]


def wire(api: client.ApiClient, obj: Any) -> dict[str, Any]:
    """A client object as the API server sent it (camelCase keys)."""
    untyped: Any = api
    body: dict[str, Any] = untyped.sanitize_for_serialization(obj)
    return body


def pod_spec(api: client.ApiClient, namespace: str, deployment: str) -> dict[str, Any]:
    [pod] = admitted_pods(api, namespace, deployment)
    spec: dict[str, Any] = wire(api, pod)["spec"]
    return spec


def test_the_test_namespaces_enforce_restricted(api: client.ApiClient, namespace: str) -> None:
    """Pods without the restricted fields are refused here, so the tests below, and every
    rollout test run in these namespaces, show that the operator's pods pass."""
    labels = wire(api, client.CoreV1Api(api).read_namespace(namespace))["metadata"]["labels"]
    assert RESTRICTED.items() <= labels.items()
    client.AppsV1Api(api).create_namespaced_deployment(namespace, bare_deployment("bare"))
    messages = refused(api, namespace, "bare")
    assert any('violates PodSecurity "restricted:latest"' in m for m in messages), messages


def test_router_model_and_shadow_pods_are_created_in_a_restricted_namespace(
        api: client.ApiClient, namespace: str, operator: OperatorProcess) -> None:
    rollouts = Rollouts(api, namespace)
    shadow = {"name": "chal", "mirrorPercent": 10,
              "template": {"spec": {"containers": [{"name": "s", "image": "model:9"}]}}}
    rollouts.create(manifest("fraud", "model:1", canary({"setWeight": 50}, {"pause": {}}),
                             shadows=[shadow]))
    status = rollouts.wait_condition("fraud", "Healthy", "True", timeout=90)
    names = {d.metadata.name for d in client.AppsV1Api(api).list_namespaced_deployment(
        namespace).items if d.metadata and d.metadata.name}
    shadows = [n for n in names if n.startswith("fraud-sh-chal-")]
    assert names == {"fraud-router", f"fraud-{status['stableRevision']}", *shadows}
    assert len(shadows) == 1
    for deployment in sorted(names):
        spec = pod_spec(api, namespace, deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}
    router = pod_spec(api, namespace, "fraud-router")
    assert router["serviceAccountName"] == "fraud-router"
    [container] = router["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"memory": "512Mi"}}


def test_a_rollouts_router_resources_reach_its_pods(
        api: client.ApiClient, namespace: str, operator: OperatorProcess) -> None:
    rollouts = Rollouts(api, namespace)
    resources = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    rollouts.create(manifest("ranker", "model:1", canary({"setWeight": 50}),
                             trafficRouting={"builtin": {"resources": resources}}))
    rollouts.wait_condition("ranker", "Healthy", "True", timeout=90)
    [container] = pod_spec(api, namespace, "ranker-router")["containers"]
    assert container["resources"] == resources


def test_an_explicit_value_that_violates_restricted_is_kept_and_refused(
        api: client.ApiClient, namespace: str, operator: OperatorProcess) -> None:
    """The operator never overrides the user's template (README, "Pod Security")."""
    rollouts = Rollouts(api, namespace)
    body: dict[str, Any] = manifest("rooted", "model:1", canary({"setWeight": 50}))
    body["spec"]["template"]["spec"]["securityContext"] = {"runAsNonRoot": False}
    rollouts.create(body)
    deployment = eventually(lambda: model_deployments(api, namespace),
                            "the model Deployment")[0]
    messages = refused(api, namespace, deployment)
    assert any("runAsNonRoot != true" in m for m in messages), messages
    template = wire(api, client.AppsV1Api(api).read_namespaced_deployment(
        deployment, namespace))["spec"]["template"]["spec"]
    assert template["securityContext"]["runAsNonRoot"] is False
    # ... while the fields the user left unset are still defaulted
    assert template["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    admitted_pods(api, namespace, "rooted-router")  # the router is ours: admitted
