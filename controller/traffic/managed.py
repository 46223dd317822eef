"""Shared by the gatewayAPI and istio routers: one list field of someone else's object, kept in
line with a split through server-side apply under our own field manager.

Both published CRDs declare the list we touch (HTTPRoute `spec.rules`, VirtualService
`spec.http`) as atomic, so SSA cannot own a single entry: we read the object, rebuild the whole
list from what we read, and apply it with the resourceVersion we read, so that a concurrent
edit makes the apply fail with 409 (and we rebuild) instead of being overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.contract.table import CANDIDATE, STABLE
from controller.operator.kube import APPLY, FIELD_MANAGER
from controller.rollout.ref import RolloutRef
from controller.rollout.split import TrafficSplit
from controller.traffic.base import RouterError

JSON = dict[str, Any]

CONFLICT_ATTEMPTS = 5
_SPEC = "spec"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def describe(self, namespace: str, name: str) -> str:
        return f"{self.kind} {namespace}/{name}"


# --- what a split asks for, in Service names --------------------------------------------------


def backends(rollout: RolloutRef, split: TrafficSplit | None) -> list[tuple[str, int]]:
    """Live (service, weight) pairs. Without a candidate revision there is no candidate entry:
    its Service may not exist, and a dangling reference degrades the whole route's status."""
    if split is None:
        return [(rollout.stable_service, 100)]
    pairs = [(rollout.stable_service, split.stable_weight)]
    if split.candidate_revision is not None:
        pairs.append((rollout.candidate_service, split.candidate_weight))
    return pairs


def mirror_targets(rollout: RolloutRef, split: TrafficSplit | None) -> list[tuple[str, int]]:
    """(service, percent) for every mirror above 0%, in the split's order, one per service.
    Skipped: mirrors to stable (it already gets every request) and to a candidate that the
    split does not have (as for backends: its Service may not exist)."""
    if split is None:
        return []
    targets: dict[str, int] = {}
    for mirror in split.mirrors:
        no_candidate = mirror.variant == CANDIDATE and split.candidate_revision is None
        if mirror.percent <= 0 or mirror.variant == STABLE or no_candidate:
            continue
        service = (rollout.candidate_service if mirror.variant == CANDIDATE
                   else rollout.shadow_service(mirror.variant))
        targets.setdefault(service, mirror.percent)
    return list(targets.items())


def is_managed_mirror(rollout: RolloutRef, service: str) -> bool:
    """Mirrors to the candidate or to any shadow of this rollout are ours (even shadows that
    are gone from the spec, so that their mirrors get cleaned up)."""
    shadow_prefix = rollout.shadow_service("")  # the naming lives in RolloutRef alone
    return service == rollout.candidate_service or service.startswith(shadow_prefix)


# --- reading and writing ----------------------------------------------------------------------


def read(api: client.ApiClient, resource: Resource, namespace: str, name: str) -> JSON | None:
    try:
        found = client.CustomObjectsApi(api).get_namespaced_custom_object(
            resource.group, resource.version, namespace, resource.plural, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise _as_router_error(error, resource.describe(namespace, name)) from error
    assert isinstance(found, dict)
    return found


def update(api: client.ApiClient, resource: Resource, namespace: str, name: str, field: str,
           change: Callable[[JSON], JSON], *, missing_ok: bool = False) -> None:
    """Read, rebuild `spec.<field>` with `change`, apply it; retry while others write between."""
    described = resource.describe(namespace, name)
    for _ in range(CONFLICT_ATTEMPTS):
        current = read(api, resource, namespace, name)
        if current is None:
            if missing_ok:
                return
            raise RouterError(f"{described} not found")
        wanted = change(current)[_SPEC][field]
        if wanted == current.get(_SPEC, {}).get(field):
            return  # nothing to do: no write, no new resourceVersion, no watch event
        try:
            _apply(api, resource, current, field, wanted)
            return
        except ApiException as error:
            if error.status != 409:
                raise _as_router_error(error, described) from error
    raise RouterError(f"{described} kept changing under us: gave up after "
                      f"{CONFLICT_ATTEMPTS} conflicting writes")



def _apply(api: client.ApiClient, resource: Resource, current: JSON, field: str,
           items: list[JSON]) -> None:
    metadata = current["metadata"]
    body = {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        # resourceVersion makes the apply conditional: it fails with 409 if the object moved on
        # since we read it, instead of forcing our rebuilt list over someone else's edit.
        "metadata": {"name": metadata["name"], "namespace": metadata["namespace"],
                     "resourceVersion": metadata["resourceVersion"]},
        _SPEC: {field: items},
    }
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        resource.group, resource.version, metadata["namespace"], resource.plural,
        metadata["name"], body, field_manager=FIELD_MANAGER, force=True,
        _content_type=APPLY)


def _as_router_error(error: ApiException, described: str) -> Exception:
    """Conditions a person must fix become RouterError; anything else stays an ApiException
    so that the caller retries it like any transient API failure."""
    if error.status == 403:
        return RouterError(f"forbidden to manage {described}: grant the operator get and patch")
    if error.status == 422:
        return RouterError(f"{described} rejected the change: {_message(error)}")
    return error


def _message(error: ApiException) -> str:
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return str(error.reason)
    return str(body.get("message", error.reason)) if isinstance(body, dict) else str(error.reason)


# --- the router shape both implementations share -----------------------------------------------


class ManagedRouteRouter:
    """A TrafficRouter over one list field of one named object in the rollout's namespace."""

    resource: Resource
    field: str

    def __init__(self, api: client.ApiClient, object_name: str) -> None:
        self._api = api
        self._name = object_name

    def with_split(self, obj: JSON, rollout: RolloutRef, split: TrafficSplit) -> JSON:
        raise NotImplementedError

    def released(self, obj: JSON, rollout: RolloutRef) -> JSON:
        raise NotImplementedError

    def apply(self, rollout: RolloutRef, split: TrafficSplit) -> None:
        update(self._api, self.resource, rollout.namespace, self._name, self.field,
               lambda obj: self.with_split(obj, rollout, split))

    def verify(self, rollout: RolloutRef, split: TrafficSplit) -> bool:
        """False also when the object or the managed entry is missing: it holds no split."""
        current = read(self._api, self.resource, rollout.namespace, self._name)
        if current is None:
            return False
        try:
            wanted = self.with_split(current, rollout, split)
        except RouterError:
            return False
        return bool(wanted[_SPEC][self.field] == current[_SPEC].get(self.field))

    def remove(self, rollout: RolloutRef) -> None:
        update(self._api, self.resource, rollout.namespace, self._name, self.field,
               lambda obj: self.released(obj, rollout), missing_ok=True)
