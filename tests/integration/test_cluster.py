"""The local control plane is a real one: Deployments get Ready pods on the kwok node."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.helpers import eventually

pytestmark = pytest.mark.integration


def test_deployment_gets_ready_pods(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    labels = {"app": "probe"}
    apps.create_namespaced_deployment(namespace, client.V1Deployment(
        metadata=client.V1ObjectMeta(name="probe"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    # the test namespaces enforce Pod Security "restricted"
                    security_context=client.V1PodSecurityContext(
                        run_as_non_root=True,
                        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")),
                    containers=[client.V1Container(
                        name="server", image="model:1",
                        security_context=client.V1SecurityContext(
                            allow_privilege_escalation=False,
                            capabilities=client.V1Capabilities(drop=["ALL"])))]),
            ),
        ),
    ))

    def ready_replicas() -> int | None:
        status = apps.read_namespaced_deployment_status("probe", namespace).status
        ready = status.ready_replicas if status is not None else None
        return ready if ready == 2 else None

    assert eventually(ready_replicas, "2 ready replicas", timeout=90) == 2
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=probe").items
    assert {p.spec.node_name for p in pods if p.spec} == {"kwok-node-0"}
    assert [p.status.phase for p in pods if p.status] == ["Running", "Running"]


def test_owned_objects_are_garbage_collected(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    owner = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="owner"))).metadata
    assert owner is not None
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(
        name="owned", owner_references=[client.V1OwnerReference(
            api_version="v1", kind="ConfigMap", name="owner", uid=owner.uid)])))
    core.delete_namespaced_config_map("owner", namespace)

    def owned_gone() -> bool:
        items = core.list_namespaced_config_map(namespace).items
        names = {c.metadata.name for c in items if c.metadata}
        return "owned" not in names

    assert eventually(owned_gone, "the garbage collector to delete the owned ConfigMap")
