"""One idempotent reconcile of one ModelRollout: read, decide (pure), apply, record.

Every trigger — create, update, resume after a restart, a child's change, a timer — ends here.
The order of writes is what makes it restart-safe: children, Services and traffic first (make
before break, see controller.rollout.ordering), status last, so a status that says "step N"
always means step N's traffic is in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from controller.analysis.analyzer import Analyzer
from controller.api.spec import ModelRolloutSpec
from controller.api.status import ModelRolloutStatus
from controller.operator.children import (
    ROLE_LABEL,
    ROLLOUT_LABEL,
    deployment_name,
    model_deployment,
    revision_services,
    shadow_service,
)
from controller.operator.events import Outbox, PendingEvent
from controller.operator.freshness import AheadOfWatch
from controller.operator.kube import Kube
from controller.operator.metrics import OperatorMetrics
from controller.operator.observed import ObservedDeployment
from controller.operator.trust import with_trusted_prometheus
from controller.rollout.commands import pending_command
from controller.rollout.failures import degraded_status, invalid_spec_status, routing_failed
from controller.rollout.machine import analysis_due, decide
from controller.rollout.model import ChildState, Event, Observation, Plan
from controller.rollout.ordering import ChildWrite, order_writes
from controller.rollout.pruned import pruned_fields, pruned_message
from controller.rollout.ref import RolloutRef
from controller.rollout.revision import shadow_revisions, spec_revision
from controller.rollout.served import with_verification
from controller.traffic.base import RouterError, TrafficRouter

log = logging.getLogger(__name__)
ROUTER_RETRY_SECONDS = 10.0
EVENT_RETRY_SECONDS = 5.0  # a reached state's Events that the API did not take yet
WRITER_THREADS = 8  # shared by all reconciles; a reconcile has a few independent writes

RouterFor = Callable[[ModelRolloutSpec], TrafficRouter]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    """Everything it talks to is handed in: the API (`kube`), the analyzer, the routers, the
    clock and the metrics, so that a test can give it its own."""

    def __init__(self, kube: Kube, analyzer: Analyzer, router_for: RouterFor,
                 clock: Callable[[], datetime] = utc_now,
                 metrics: OperatorMetrics | None = None) -> None:
        self.kube = kube
        self.metrics = metrics or OperatorMetrics()
        self.analyzer = analyzer
        self.router_for = router_for
        self.clock = clock
        self.ahead_of_watch = AheadOfWatch()
        self.outbox = Outbox()
        self._writers = ThreadPoolExecutor(max_workers=WRITER_THREADS,
                                           thread_name_prefix="write")

    def reconcile(self, namespace: str, name: str, cached: dict[str, Any],
                  children: Sequence[ObservedDeployment]) -> float | None:
        """Returns the seconds until the rollout wants to be looked at again, or None.

        `cached` and `children` are what the operator's watches last saw. A cached body older
        than one this reconciler has written or read since is replaced by that newer one
        (see `controller.operator.freshness`)."""
        delay = self._reconcile_once(namespace, name, cached, children)
        if self.outbox.waiting((namespace, name)):
            return EVENT_RETRY_SECONDS if delay is None else min(delay, EVENT_RETRY_SECONDS)
        return delay

    def _reconcile_once(self, namespace: str, name: str, cached: dict[str, Any],
                        children: Sequence[ObservedDeployment]) -> float | None:
        body = self._fresh_body(namespace, name, cached)
        try:
            return self._reconcile(namespace, name, body, children)
        except ApiException as error:
            if error.status != 409:
                raise
        # Written since we read it (kopf's finalizer, a user's edit): decide again, once, on
        # what is there now; the writes so far were idempotent.
        log.debug("%s/%s: conflict on status, reading it again", namespace, name)
        body = self.kube.get_rollout(namespace, name)
        if body is not None:
            self.ahead_of_watch.remember((namespace, name), body)
        return self._reconcile(namespace, name, body, children)

    def _reconcile(self, namespace: str, name: str, body: dict[str, Any] | None,
                   children: Sequence[ObservedDeployment]) -> float | None:
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        meta = body["metadata"]
        # Events of the state the rollout is in that an earlier reconcile could not post.
        self._post((namespace, name), self.outbox.reached(
            (namespace, name), meta["uid"], body.get("status") or {}))
        generation = int(meta.get("generation", 0))
        try:
            spec = ModelRolloutSpec.model_validate(body.get("spec", {}))
        except ValidationError as error:
            status, event = invalid_spec_status(body.get("status") or {}, error, generation,
                                                self.clock())
            self._record(body, status, [event])
            return None
        self._warn_of_pruned_fields(body, generation)
        spec = with_trusted_prometheus(spec, namespace, self.kube)
        rollout = RolloutRef(name=name, namespace=namespace, uid=meta["uid"], port=spec.port)
        deployments = list(children)
        refused = self._refused_template(rollout, spec, deployments)
        if refused is not None:
            status, event = degraded_status(body.get("status") or {}, "InvalidTemplate",
                                            refused, generation, self.clock())
            repeated = (body.get("status") or {}).get("message") == status.message
            self._record(body, status, [] if repeated else [event])
            return None
        observation = self._observe(body, spec, generation, deployments)
        if analysis_due(observation):
            outcome = self.analyzer.evaluate(rollout, observation)
            observation = replace(observation, analysis=outcome)
        plan = decide(observation)
        router = self.router_for(spec)
        try:
            self._apply(rollout, spec, plan, deployments, router)
            verification = router.verify(rollout, plan.traffic)
        except RouterError as error:
            # The decision stands but its traffic is not in place: keep the observed status
            # (so the step is retried, not skipped) and say what a person must fix.
            repeated = observation.status.message == str(error)
            self._record(body, routing_failed(observation, str(error)), [] if repeated else
                         [Event("Warning", "TrafficRoutingFailed", str(error))])
            return ROUTER_RETRY_SECONDS
        status, events = plan.status, list(plan.events)
        if verification is not None:
            status = with_verification(status, verification, generation, observation.now)
            if verification.verified is False:
                events.append(Event("Warning", verification.reason, verification.message))
        self._record(body, status, events)
        self.metrics.observe(namespace, name, observation.status, plan.status,
                             observation.analysis)
        recheck = verification.recheck_seconds if verification is not None else None
        if recheck is not None and (plan.requeue_after_seconds is None
                                    or recheck < plan.requeue_after_seconds):
            return recheck
        return plan.requeue_after_seconds

    def _warn_of_pruned_fields(self, body: dict[str, Any], generation: int) -> None:
        """Once per generation: a Warning Event naming the fields the API server dropped."""
        if (body.get("status") or {}).get("observedGeneration") == generation:
            return
        fields = pruned_fields(body["metadata"].get("annotations") or {})
        if fields:
            self.kube.post_event(body, "Warning", "PrunedFields", pruned_message(fields))

    def _refused_template(self, rollout: RolloutRef, spec: ModelRolloutSpec,
                          deployments: list[ObservedDeployment]) -> str | None:
        """The API server's reason (a server-side dry-run) that a Deployment of a revision not
        yet created would be refused, naming the template; None when every one would do."""
        existing = {d.name for d in deployments}
        wanted = [("spec.template", model_deployment(rollout, spec.template,
                                                     spec_revision(spec), 0))]
        revisions = shadow_revisions(spec)
        for index, shadow in enumerate(spec.shadows or ()):
            wanted.append((f"spec.shadows[{index}].template", model_deployment(
                rollout, shadow.template, revisions[shadow.name], 0, shadow=shadow.name)))
        for field, manifest in wanted:
            if manifest["metadata"]["name"] in existing:
                continue
            refused = self.kube.dry_run_deployment(manifest)
            if refused is not None:
                return (f"{field}: the API server refuses its Deployment "
                        f"{manifest['metadata']['name']}: {refused}")
        return None

    def release(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        """On deletion: traffic back to stable-only; owned children go with the rollout."""
        try:
            spec = ModelRolloutSpec.model_validate(body.get("spec", {}))
        except ValidationError:
            return  # an invalid rollout never routed anything
        rollout = RolloutRef(name=name, namespace=namespace, uid=body["metadata"]["uid"],
                             port=spec.port)
        self.router_for(spec).remove(rollout)
        self.metrics.forget(namespace, name)
        self.ahead_of_watch.forget((namespace, name))
        self.outbox.forget((namespace, name))

    def _fresh_body(self, namespace: str, name: str,
                    cached: dict[str, Any]) -> dict[str, Any] | None:
        newest = self.ahead_of_watch.newest((namespace, name), cached)
        return newest if newest is not None else self.kube.get_rollout(namespace, name)

    # --- read -------------------------------------------------------------------------------------

    def _observe(self, body: dict[str, Any], spec: ModelRolloutSpec, generation: int,
                 deployments: list[ObservedDeployment]) -> Observation:
        status = ModelRolloutStatus.model_validate(body.get("status") or {})
        children: dict[str, ChildState] = {}
        shadows_ready: dict[str, bool] = {}
        current_shadows = shadow_revisions(spec)
        for deployment in deployments:
            revision, shadow = deployment.revision, deployment.shadow
            if shadow is None and deployment.role == "model":
                children[revision] = deployment.state
            elif shadow is not None and current_shadows.get(shadow) == revision:
                replicas = next(s.replicas for s in spec.shadows or () if s.name == shadow)
                shadows_ready[shadow] = replicas > 0 and deployment.state.ready_for(replicas)
        annotations = body["metadata"].get("annotations") or {}
        return Observation(
            spec=spec, status=status, generation=generation, now=self.clock(),
            children=children, shadows_ready=shadows_ready,
            command=pending_command(annotations, status.last_command),
        )

    # --- write ------------------------------------------------------------------------------------

    def _apply(self, rollout: RolloutRef, spec: ModelRolloutSpec, plan: Plan,
               deployments: list[ObservedDeployment], router: TrafficRouter) -> None:
        """Make before break (controller.rollout.ordering); independent writes side by side."""
        existing = {d.revision: d.replicas for d in deployments if d.role == "model"}
        order = order_writes(plan, existing)
        for revision in order.unknown:
            log.warning("%s/%s: revision %s has no Deployment and its template is gone",
                        rollout.namespace, rollout.name, revision)
        services = dict(zip(("stable", "candidate"), revision_services(
            rollout, spec, plan.stable_service, plan.candidate_service), strict=True))

        def child(write: ChildWrite) -> Callable[[], None]:
            if write.action == "apply":
                return partial(self.kube.apply, model_deployment(
                    rollout, spec.template, write.revision, write.replicas))
            name = deployment_name(rollout, write.revision)
            if write.action == "scale":
                return partial(self.kube.scale_deployment, rollout.namespace, name,
                               write.replicas)
            return partial(self.kube.delete_deployment, rollout.namespace, name)

        # Shadows go first as a whole: a mirror only ever reaches a Ready shadow, and a copy
        # lost while one is replaced never touches a primary answer.
        self._side_by_side([
            *(partial(self.kube.apply, services[role]) for role in order.services_before_traffic),
            partial(self._apply_shadows, rollout, spec, deployments)])
        self._side_by_side([partial(router.apply, rollout, plan.traffic),
                            *map(child, order.children_with_traffic)])
        self._side_by_side([
            *(partial(self.kube.apply, services[role]) for role in order.services_after_traffic),
            *map(child, order.children_after_traffic)])

    def _side_by_side(self, writes: list[Callable[[], None]]) -> None:
        """Run the writes concurrently; the first failure is raised once all have ended."""
        if len(writes) == 1:
            writes[0]()  # no thread hop for a write with nothing beside it
            return
        futures = [self._writers.submit(write) for write in writes]
        for future in futures:
            future.exception()  # wait for every one: none is left running behind a failure
        for future in futures:
            future.result()

    def _apply_shadows(self, rollout: RolloutRef, spec: ModelRolloutSpec,
                       deployments: list[ObservedDeployment]) -> None:
        wanted = shadow_revisions(spec)
        for shadow in spec.shadows or ():
            revision = wanted[shadow.name]
            self.kube.apply(model_deployment(rollout, shadow.template, revision,
                                             shadow.replicas, shadow=shadow.name))
            self.kube.apply(shadow_service(rollout, spec, shadow.name, revision))
        had_shadows = False
        for deployment in deployments:
            if deployment.role != "shadow":
                continue
            had_shadows = True
            if wanted.get(deployment.shadow or "") != deployment.revision:
                self.kube.delete_deployment(rollout.namespace, deployment.name)
        if not had_shadows:
            return  # no shadow ever ran here: no shadow Services to clean up either
        selector = f"{ROLLOUT_LABEL}={rollout.name},{ROLE_LABEL}=shadow"
        wanted_services = {rollout.shadow_service(name) for name in wanted}
        for service in self.kube.list_services(rollout.namespace, selector):
            name = service.metadata.name if service.metadata else None
            if name and name not in wanted_services:
                self.kube.delete_service(rollout.namespace, name)

    def _record(self, body: dict[str, Any], status: ModelRolloutStatus,
                events: list[Event]) -> None:
        wire = status.model_dump(by_alias=True, exclude_none=True)
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        self.outbox.expect(key, body, wire, events)  # kept if the POSTs below fail
        if wire != (body.get("status") or {}):
            written = self.kube.replace_status(body, wire)
            self.ahead_of_watch.remember(key, written)
        self._post(key, self.outbox.reached(key, meta["uid"], wire))

    def _post(self, key: tuple[str, str], pending: list[PendingEvent]) -> None:
        """Best effort, in order; after a failure the rest wait for the next reconcile (one
        slow POST, not one per Event, when the API is away)."""
        for item in pending:
            event = item.event
            if not self.kube.post_event(item.involved, event.type, event.reason,
                                        event.message, name=item.name):
                return
            self.outbox.posted(key, item.name)

