"""The read-rebuild-apply loop without a cluster: conflicts retried, conditions surfaced."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.rollout.ref import RolloutRef
from controller.rollout.split import Mirror, TrafficSplit
from controller.traffic import managed
from controller.traffic.base import RouterError

pytestmark = pytest.mark.unit

ROLLOUT = RolloutRef(name="fraud", namespace="ml", uid="u1", port=8080)
THING = managed.Resource("example.com", "v1", "things", "Thing")


class FakeServer:
    """Stands in for read and _apply: a stored object and a queue of apply failures."""

    def __init__(self, stored: dict[str, Any] | None, failures: list[int]) -> None:
        self.stored = stored
        self.failures = failures
        self.applied: list[list[Any]] = []

    def read(self, api: object, resource: object, namespace: str, name: str) -> Any:
        return self.stored

    def apply(self, api: object, resource: object, current: Any, field: str,
              items: list[Any]) -> None:
        if self.failures:
            raise ApiException(status=self.failures.pop(0), reason="nope")
        self.applied.append(items)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    fake = FakeServer({"metadata": {"name": "a", "namespace": "ml", "resourceVersion": "1"},
                       "spec": {"items": [1]}}, [])
    monkeypatch.setattr(managed, "read", fake.read)
    monkeypatch.setattr(managed, "_apply", fake.apply)
    return fake


def bump(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "spec": {"items": [*obj["spec"]["items"], 2]}}


def update(**kwargs: Any) -> None:
    managed.update(client.ApiClient(), THING, "ml", "a", "items", bump, **kwargs)


def test_applies_the_rebuilt_list(server: FakeServer) -> None:
    update()
    assert server.applied == [[1, 2]]


def test_nothing_changed_means_no_write(server: FakeServer) -> None:
    managed.update(client.ApiClient(), THING, "ml", "a", "items", lambda obj: obj)
    assert server.applied == []


def test_a_conflict_is_retried_on_a_fresh_read(server: FakeServer) -> None:
    server.failures = [409, 409]
    update()
    assert server.applied == [[1, 2]]


def test_endless_conflicts_become_a_router_error(server: FakeServer) -> None:
    server.failures = [409] * managed.CONFLICT_ATTEMPTS
    with pytest.raises(RouterError, match=r"Thing ml/a kept changing"):
        update()


@pytest.mark.parametrize(("status", "message"), [(403, "forbidden"), (422, "rejected")])
def test_conditions_become_router_errors(server: FakeServer, status: int, message: str) -> None:
    server.failures = [status]
    with pytest.raises(RouterError, match=message):
        update()


def test_transient_errors_stay_api_errors(server: FakeServer) -> None:
    server.failures = [500]
    with pytest.raises(ApiException):
        update()


def test_missing_object(server: FakeServer) -> None:
    server.stored = None
    with pytest.raises(RouterError, match=r"^Thing ml/a not found$"):
        update()
    update(missing_ok=True)
    assert server.applied == []


def test_backends_and_mirror_targets() -> None:
    split = TrafficSplit("r1", "r2", 30, mirrors=(
        Mirror("candidate", "r2", 5), Mirror("v3", "s", 0), Mirror("v4", "s", 9),
        Mirror("stable", "r1", 50), Mirror("candidate", "r2", 7)))
    assert managed.backends(ROLLOUT, split) == [("fraud-stable", 70), ("fraud-candidate", 30)]
    assert managed.backends(ROLLOUT, TrafficSplit("r1")) == [("fraud-stable", 100)]
    assert managed.backends(ROLLOUT, None) == [("fraud-stable", 100)]
    assert managed.mirror_targets(ROLLOUT, split) == [("fraud-candidate", 5),
                                                      (ROLLOUT.shadow_service("v4"), 9)]
    assert managed.mirror_targets(ROLLOUT, None) == []
    no_candidate = TrafficSplit("r1", mirrors=(Mirror("candidate", "r2", 5),
                                               Mirror("v3", "s", 9)))
    assert managed.mirror_targets(ROLLOUT, no_candidate) == [(ROLLOUT.shadow_service("v3"), 9)]


@pytest.mark.parametrize(("service", "ours"), [
    ("fraud-candidate", True), (ROLLOUT.shadow_service("v3"), True), ("fraud-stable", False),
    ("fraud-candidate-2", False), ("audit", False),
    (RolloutRef("other", "ml", "u2", 1).shadow_service("v3"), False),
])
def test_which_mirrors_are_ours(service: str, ours: bool) -> None:
    assert managed.is_managed_mirror(ROLLOUT, service) is ours
