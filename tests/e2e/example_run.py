"""One example case on the shared stack: its namespace, router or mesh route, users, the
candidate, the people who act when it waits for them, and what it ends as."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.e2e.example_cases import JSON, Case, PersonStep, Verdict, router_kind
from tests.e2e.example_routes import RouteRecorder, user_route
from tests.e2e.example_stack import ExampleStack
from tests.e2e.example_traffic import MeshUsers, RouterUsers
from tests.helpers import eventually
from tests.integration.rollouts import Rollouts, TableRecorder
from tests.integration.traffic.kube import gitops_apply

VERDICT_TIMEOUT = 420.0  # seconds from the candidate's apply to its verdict, on a loaded machine


def holdout(models: Path) -> tuple[list[list[float]], list[int]]:
    data = json.loads((models / "holdout.json").read_text())
    return data["instances"], data["labels"]


@contextlib.contextmanager
def namespace(api: client.ApiClient, case: Case) -> Iterator[str]:
    name = f"ex-{case.id}-{uuid.uuid4().hex[:6]}"[:63]
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)


class CaseRun:
    def __init__(self, stack: ExampleStack, api: client.ApiClient, case: Case,
                 namespace: str) -> None:
        self.stack, self.api, self.case, self.namespace = stack, api, case, namespace
        self.rollouts = Rollouts(api, namespace)
        self.stable, self.candidate = case.manifest(stack.prometheus_url)
        self.name: str = self.stable["metadata"]["name"]
        self.kind = router_kind(self.stable)
        self.verdict = Verdict(case.id, case.documented)
        self.weights: Callable[[], list[int | None]] = list
        self.mirrors: Callable[[], list[int]] = list
        self.rows, self.labels = holdout(stack.models)

    # --- set up ---------------------------------------------------------------------------

    def start(self, resources: ExitStack) -> None:
        """The user's world before the candidate: routes, the stable rollout, its users."""
        if self.kind == "builtin":
            self._start_builtin(resources)
        else:
            self._start_mesh(resources)

    def _create_stable(self) -> None:
        self.rollouts.create(self.stable)
        self.rollouts.wait_condition(self.name, "Healthy", "True", timeout=120)

    def _start_builtin(self, resources: ExitStack) -> None:
        recorder = TableRecorder(self.api, self.namespace, self.name)
        resources.callback(recorder.stop)
        self.weights = recorder.candidate_weights
        address = resources.enter_context(self.stack.router(self.namespace, self.name))
        self._create_stable()
        builtin = self.stable["spec"].get("trafficRouting", {}).get("builtin", {})
        shop = self._needs("shop_")
        exporter = resources.enter_context(self.stack.exporter(self.namespace)) if shop else None
        users = RouterUsers(address, self.rows, self.labels, builtin.get("unit", {}),
                            shop=exporter)
        users.start()
        resources.callback(users.stop)

    def _start_mesh(self, resources: ExitStack) -> None:
        route, body = user_route(self.kind, self.stable, self.namespace)
        gitops_apply(self.api, route.resource, body)  # the user's route, as Git holds it
        recorder = RouteRecorder(self.api, route, self.namespace, body["metadata"]["name"],
                                 f"{self.name}-candidate")
        resources.callback(recorder.stop)
        self.weights, self.mirrors = recorder.candidate_weights, recorder.mirrors
        self._create_stable()
        if not self._needs("istio_requests_total"):
            return  # nothing reads the mesh's metrics (gateway-api has no analysis)
        exporter = resources.enter_context(self.stack.exporter(self.namespace))
        revisions: dict[str, str | None] = {}

        def follow() -> dict[str, int]:
            status = self.rollouts.status(self.name)
            revisions[f"{self.name}-stable"] = status.get("stableRevision")
            revisions[f"{self.name}-candidate"] = status.get("candidateRevision")
            return recorder.current()

        def address_of(service: str) -> str | None:
            found = revisions.get(service)
            return None if found is None else self.stack.addresses.get(found)

        users = MeshUsers(follow, address_of, self.rows, exporter)
        users.start()
        resources.callback(users.stop)

    def _needs(self, metric: str) -> bool:
        return metric in json.dumps((self.stable["spec"].get("analysis") or {}).get("metrics"))

    # --- the candidate --------------------------------------------------------------------

    def release(self) -> dict[str, Any]:
        """Apply the candidate, act as its people would, return the rollout at its verdict."""
        history_before = len(self.rollouts.status(self.name).get("history", []))
        started = time.monotonic()
        self.rollouts.patch(self.name, {"spec": {"template": self.candidate["spec"]["template"]}})
        people = list(self.case.people)

        def verdict() -> JSON | None:
            body = self.rollouts.get(self.name)
            status: JSON = body.get("status") or {}
            if people and self._waiting_for(people[0], status):
                self.rollouts.command(self.name, f"{people.pop(0).command}@{time.time_ns()}")
            history = status.get("history", [])
            done = len(history) > history_before and not status.get("candidateRevision")
            return body if done else None

        body = eventually(verdict, f"{self.case.id}: its verdict", timeout=VERDICT_TIMEOUT,
                          interval=0.5)
        self.verdict.seconds_to_verdict = round(time.monotonic() - started, 1)
        entry = body["status"]["history"][-1]
        self.verdict.outcome, self.verdict.reason = entry["outcome"], entry["reason"]
        self.verdict.message = entry.get("message", "")
        assert not people, f"{self.case.id}: never waited for {people}"
        return body

    def _waiting_for(self, person: PersonStep, status: JSON) -> bool:
        if person.paused_reason:
            return any(c["type"] == "Paused" and c["status"] == "True"
                       and c["reason"] == person.paused_reason
                       for c in status.get("conditions", []))
        # No hold to wait for (a timed pause): act once the candidate has live traffic.
        return bool((status.get("traffic") or {}).get("candidateWeight"))

    def final_weights(self) -> list[int | None]:
        """The weight sequence, once the last write (no candidate) has been seen."""
        eventually(lambda: self.weights()[-1:] == [None], f"{self.case.id}: the final route")
        self.verdict.weights = self.weights()
        return self.verdict.weights

    def event_reasons(self) -> list[str]:
        return self.rollouts.reasons(self.name)
