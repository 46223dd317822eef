"""A clean demo namespace before an e2e test that runs the demo's rollout."""

from __future__ import annotations

import contextlib

from kubernetes import client

from controller.api import GROUP, PLURAL, VERSION
from examples.demo.stack import NAME, NAMESPACE
from tests.helpers import eventually


def reset_demo_rollout(api: client.ApiClient) -> None:
    """No demo rollout and no routing table left from an earlier test. The earlier test's
    operator has stopped, so nobody will run our finalizer: the test removes it after the
    delete (its work, routing back to stable, is moot with the rollout gone)."""
    core = client.CoreV1Api(api)
    objects = client.CustomObjectsApi(api)
    with contextlib.suppress(client.ApiException):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    with contextlib.suppress(client.ApiException):
        objects.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
    with contextlib.suppress(client.ApiException):  # 404: already gone
        objects.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME,
                                               {"metadata": {"finalizers": None}})
    eventually(lambda: not core.list_namespaced_config_map(
        NAMESPACE, field_selector=f"metadata.name={NAME}-routing").items or None,
        "no routing table left from an earlier run", timeout=120)
