"""What Pod Security admission did with a Deployment's pods: created, or refused (FailedCreate)."""

from __future__ import annotations

from kubernetes import client

from tests.helpers import eventually


def replica_sets(api: client.ApiClient, namespace: str, deployment: str
                 ) -> list[client.V1ReplicaSet]:
    return [rs for rs in client.AppsV1Api(api).list_namespaced_replica_set(namespace).items
            if rs.metadata and any(o.kind == "Deployment" and o.name == deployment
                                   for o in rs.metadata.owner_references or ())]


def pods(api: client.ApiClient, namespace: str, deployment: str) -> list[client.V1Pod]:
    owners = {rs.metadata.name for rs in replica_sets(api, namespace, deployment)
              if rs.metadata}
    return [pod for pod in client.CoreV1Api(api).list_namespaced_pod(namespace).items
            if pod.metadata and any(o.kind == "ReplicaSet" and o.name in owners
                                    for o in pod.metadata.owner_references or ())]


def refusals(api: client.ApiClient, namespace: str, deployment: str) -> list[str]:
    """The ReplicaSet controller's FailedCreate messages (conditions and Events)."""
    found = []
    names = set()
    for rs in replica_sets(api, namespace, deployment):
        names.add(rs.metadata.name if rs.metadata else "")
        found += [c.message or "" for c in (rs.status.conditions if rs.status else None) or ()
                  if c.type == "ReplicaFailure" and c.reason == "FailedCreate"]
    found += [e.message or "" for e in client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector="reason=FailedCreate").items
        if e.involved_object and e.involved_object.name in names]
    return found


def admitted_pods(api: client.ApiClient, namespace: str, deployment: str, count: int = 1,
                  timeout: float = 60) -> list[client.V1Pod]:
    """Wait for `count` pods of the Deployment; fail at once with the refusal if Pod Security
    (or anything else) refuses them."""
    def created() -> list[client.V1Pod] | None:
        refused = refusals(api, namespace, deployment)
        assert not refused, f"pods of {deployment} refused: {refused}"
        found = pods(api, namespace, deployment)
        return found if len(found) >= count else None

    return eventually(created, f"{count} pod(s) of Deployment {deployment}", timeout)


def refused(api: client.ApiClient, namespace: str, deployment: str,
            timeout: float = 60) -> list[str]:
    return eventually(lambda: refusals(api, namespace, deployment),
                      f"a FailedCreate for the pods of {deployment}", timeout)
