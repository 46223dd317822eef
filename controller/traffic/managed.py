"""Shared by the gatewayAPI and istio routers: one list field of someone else's object, kept in
line with a split through server-side apply under our own field manager.

Both published CRDs declare the list we touch (HTTPRoute `spec.rules`, VirtualService
`spec.http`) as atomic, so SSA cannot own a single entry: we read the object, rebuild the whole
list from what we read, and apply it with the resourceVersion we read, so that a concurrent
edit makes the apply fail with 409 (and we rebuild) instead of being overwritten.

ManagedRouteRouter (at the end) does the rewriting and the TrafficRouter calls once for both; a
provider's module only says where its entries live and how its API spells backends and mirrors.
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.contract.table import CANDIDATE, STABLE
from controller.operator.kube import APPLY, FIELD_MANAGER
from controller.rollout.ref import RolloutRef
from controller.rollout.served import Verification
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


# --- the router both providers are -------------------------------------------------------------


class ManagedRouteRouter(ABC):
    """A TrafficRouter over one entry of one list field of one named object in the rollout's
    namespace. The managed entry (the one named, else the provider's default) gets exactly our
    weighted backends, stable then candidate, each keeping what else sat on it; our mirrors are
    rebuilt after everyone else's, one per mirror above 0%. Every other entry, item and field is
    carried over as read.

    A provider says where these live (the class attributes) and how its API spells them (the
    abstract methods); the rewriting below is pure, so it is tested without a cluster."""

    resource: ClassVar[Resource]
    field: ClassVar[str]  # spec.<field>: the entries
    entry_kind: ClassVar[str]  # how a message names an entry
    backends_key: ClassVar[str]  # in the entry: the weighted backends, all of them ours
    mirrors_key: ClassVar[str]  # in the entry: the list that our mirrors join

    def __init__(self, api: client.ApiClient, object_name: str, entry_name: str | None) -> None:
        self._api = api
        self._name = object_name
        self._entry_name = entry_name

    # -- what each provider spells its own way

    @abstractmethod
    def default_entry(self, entries: list[JSON], rollout: RolloutRef) -> int | None:
        """Index of the entry managed when none is named."""

    @abstractmethod
    def missing_default(self, rollout: RolloutRef, described: str) -> str:
        """Why `described` has no default entry: the RouterError's message."""

    @abstractmethod
    def backend_service(self, backend: JSON, namespace: str) -> str | None:
        """The Service in `namespace` that a backend sends to, if it sends to one."""

    @abstractmethod
    def backend(self, existing: JSON | None, service: str, port: int, weight: int) -> JSON:
        """Our backend to `service`, keeping what else sits on the `existing` one."""

    @abstractmethod
    def mirror_service(self, item: JSON, namespace: str) -> str | None:
        """The Service in `namespace` that an item of the mirrors list mirrors to, if any."""

    @abstractmethod
    def mirror(self, service: str, port: int, percent: int) -> JSON:
        """Our mirror of `percent`% of the requests to `service`."""

    def check_mirrors(self, entry: JSON, ours: list[JSON], described: str) -> None:
        """Raise RouterError if `entry` cannot take `ours` (our mirrors for the split)."""
        return  # by default an entry takes any number of mirrors

    # -- the rewriting, pure

    def describe(self, obj: JSON) -> str:
        metadata = obj.get("metadata", {})
        return self.resource.describe(metadata.get("namespace", ""), metadata.get("name", ""))

    def find_entry(self, obj: JSON, rollout: RolloutRef) -> int | None:
        """Index of the entry named `entry_name`, else of the provider's default entry."""
        entries: list[JSON] = obj.get(_SPEC, {}).get(self.field) or []
        if self._entry_name is None:
            return self.default_entry(entries, rollout)
        return next((index for index, entry in enumerate(entries)
                     if entry.get("name") == self._entry_name), None)

    def missing_entry(self, obj: JSON, rollout: RolloutRef) -> RouterError:
        described = self.describe(obj)
        if self._entry_name is not None:
            return RouterError(f"{self.entry_kind} {self._entry_name!r} not found in {described}")
        return RouterError(self.missing_default(rollout, described))

    def rewrite_entry(self, entry: JSON, rollout: RolloutRef, split: TrafficSplit | None,
                      described: str) -> JSON:
        """The entry with our backends and mirrors for `split` (None: stable only, no mirrors)."""
        namespace, port = rollout.namespace, rollout.port
        new = copy.deepcopy(entry)
        existing: dict[str, JSON] = {}
        for backend in entry.get(self.backends_key) or []:
            service = self.backend_service(backend, namespace)
            if service is not None:
                existing.setdefault(service, backend)
        new[self.backends_key] = [self.backend(existing.get(service), service, port, weight)
                                  for service, weight in backends(rollout, split)]
        ours = [self.mirror(service, port, percent)
                for service, percent in mirror_targets(rollout, split)]
        self.check_mirrors(entry, ours, described)
        mirrors = [copy.deepcopy(item) for item in entry.get(self.mirrors_key) or []
                   if not self._is_our_mirror(item, rollout)]
        mirrors += ours
        if mirrors:
            new[self.mirrors_key] = mirrors
        else:
            new.pop(self.mirrors_key, None)
        return new

    def with_split(self, obj: JSON, rollout: RolloutRef, split: TrafficSplit) -> JSON:
        """The whole object with the managed entry holding `split`; RouterError if there is none."""
        index = self.find_entry(obj, rollout)
        if index is None:
            raise self.missing_entry(obj, rollout)
        return self._rewritten(obj, index, rollout, split)

    def released(self, obj: JSON, rollout: RolloutRef) -> JSON:
        """The object with the managed entry sending 100% to stable and none of our mirrors."""
        index = self.find_entry(obj, rollout)
        if index is None:
            return obj  # nothing of ours to undo
        return self._rewritten(obj, index, rollout, None)

    def _rewritten(self, obj: JSON, index: int, rollout: RolloutRef,
                   split: TrafficSplit | None) -> JSON:
        entry = self.rewrite_entry(obj[_SPEC][self.field][index], rollout, split,
                                   self.describe(obj))
        new = copy.deepcopy(obj)
        new[_SPEC][self.field][index] = entry
        return new

    def _is_our_mirror(self, item: JSON, rollout: RolloutRef) -> bool:
        service = self.mirror_service(item, rollout.namespace)
        return service is not None and is_managed_mirror(rollout, service)

    # -- the TrafficRouter, through the read-rebuild-apply loop above

    def apply(self, rollout: RolloutRef, split: TrafficSplit) -> None:
        update(self._api, self.resource, rollout.namespace, self._name, self.field,
               lambda obj: self.with_split(obj, rollout, split))

    def verify(self, rollout: RolloutRef, split: TrafficSplit) -> Verification | None:
        """Nothing beyond `apply`: it read the object and wrote what differed."""
        return None

    def remove(self, rollout: RolloutRef) -> None:
        update(self._api, self.resource, rollout.namespace, self._name, self.field,
               lambda obj: self.released(obj, rollout), missing_ok=True)
