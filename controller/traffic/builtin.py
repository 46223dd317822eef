"""The builtin router: our model router, driven by a routing table in a ConfigMap we own (its
Deployment, Services, NetworkPolicy, Secret and RBAC are in builtin_children).

The table (controller.contract.table, docs/router.md) lives in ConfigMap `<name>-routing`, key
`table.json`; the router Deployment `<name>-router` watches it and serves on Service `<name>`.
The table's version grows by one whenever its content changes, so a router never applies an
older table.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from controller.analysis.analyzer import render_scope
from controller.analysis.provider import ProviderError
from controller.api.analysis import PrometheusSource
from controller.api.routing import BuiltinRouter
from controller.api.spec import ModelRolloutSpec
from controller.contract.metrics import DIGEST_LABEL, TABLE_INFO, VERSION_LABEL
from controller.contract.table import (
    BASIS_POINTS,
    CANDIDATE,
    TABLE_KEY,
    Candidate,
    FaultHeader,
    FaultSpec,
    Overrides,
    PredictionSpec,
    RoutingTable,
    Shadow,
    Sticky,
    TableError,
    Variant,
    parse_table,
    table_digest,
    table_error,
    table_json,
)
from controller.operator.children import MANAGED_BY, ROLE_LABEL, ROLLOUT_LABEL, owner_reference
from controller.operator.kube import Kube
from controller.operator.settings import ROUTER_SERVICE_ACCOUNT_ENV, BuiltinRouterSettings
from controller.rollout.ref import RolloutRef
from controller.rollout.served import ServedTable, Verification, judge_served
from controller.rollout.split import TrafficSplit
from controller.traffic.base import RouterContext, RouterError, SeriesReader
from controller.traffic.builtin_children import (
    admin_secret,
    config_map_name,
    router_access_manifests,
    router_manifests,
    token_keys_secret,
)

_PERCENT = BASIS_POINTS // 100
MAX_REPLICAS_READ = 100


def address(rollout: RolloutRef, service: str, revision: str,
            overrides: BuiltinRouterSettings) -> str:
    dns = f"{service}.{rollout.namespace}.svc"
    found = overrides.address_overrides
    return found.get(revision) or found.get(dns, f"{dns}:{rollout.port}")


def routing_table(rollout: RolloutRef, config: BuiltinRouter, split: TrafficSplit,
                  version: int, settings: BuiltinRouterSettings | None = None) -> RoutingTable:
    """The model router's table for `split`; weights and fractions in basis points.
    Raises TableError (fields named) for a table the router would refuse."""
    where = settings or BuiltinRouterSettings()
    prediction = (PredictionSpec.model_validate(config.prediction.model_dump(by_alias=True))
                  if config.prediction else None)

    def backends(service: str, revision: str) -> list[str]:
        return [address(rollout, service, revision, where)]

    try:
        candidate = None
        if split.candidate_revision is not None:
            faults = split.candidate_faults
            candidate = Candidate(
                backends=backends(rollout.candidate_service, split.candidate_revision),
                model=split.candidate_revision, prediction=prediction,
                weight_bp=split.candidate_weight * _PERCENT,
                mirror_bp=split.mirror_percent(CANDIDATE) * _PERCENT,
                faults=FaultSpec() if faults is None else FaultSpec(
                    fraction_bp=faults.fraction_basis_points,
                    added_latency_ms=faults.added_latency_milliseconds,
                    error_status=faults.error_status,
                    corrupt_prediction=faults.corrupt_prediction,
                    segment=faults.segment,
                    header=None if faults.header is None else FaultHeader(
                        name=faults.header[0], value=faults.header[1]),
                    hashed_fraction_bp=faults.hashed_fraction_basis_points))
        return RoutingTable(
            version=version,
            salt=rollout_salt(rollout, config, split),
            experiment=f"{rollout.namespace}/{rollout.name}",
            window=split.window,
            stable=Variant(backends=backends(rollout.stable_service, split.stable_revision),
                           model=split.stable_revision, prediction=prediction),
            candidate=candidate,
            shadows=[Shadow(backends=backends(rollout.shadow_service(m.variant), m.revision),
                            model=m.revision, prediction=prediction, name=m.variant,
                            mirror_bp=m.percent * _PERCENT)
                     for m in split.mirrors if m.variant != CANDIDATE],
            sticky=Sticky.model_validate(_wire(config.unit)),
            overrides=Overrides.model_validate(_overrides(config, candidate is not None)),
        )
    except ValidationError as error:
        raise table_error(error) from None


def rollout_salt(rollout: RolloutRef, config: BuiltinRouter, split: TrafficSplit) -> str:
    """The explicit salt; else namespace/name/candidate revision, a fresh draw of canary
    users per release (namespace/name with keepUnitsAcrossReleases: the same users each time).
    Without a candidate all traffic is stable, whatever the salt."""
    if config.salt:
        return config.salt
    base = f"{rollout.namespace}/{rollout.name}"
    if config.keep_units_across_releases or split.candidate_revision is None:
        return base
    return f"{base}/{split.candidate_revision}"


def _overrides(config: BuiltinRouter, has_candidate: bool) -> dict[str, Any]:
    """The overrides as the router takes them. A segment pinned to the candidate applies
    only while there is one: without it, its units are split like everyone else (stable)."""
    wired = _wire(config.overrides)
    if not has_candidate and wired.get("segments"):
        wired["segments"] = [s for s in wired["segments"] if s["variant"] != CANDIDATE]
    return wired


def _wire(section: Any) -> dict[str, Any]:
    return {} if section is None else dict(section.model_dump(by_alias=True, exclude_none=True))


class RecentVerdicts:
    """The last verdict per rollout and when it was reached; a fact about this process."""

    def __init__(self) -> None:
        self._verdicts: dict[tuple[str, str, str], tuple[float, Verification]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str], within: float) -> Verification | None:
        with self._lock:
            found = self._verdicts.get(key)
        return found[1] if found is not None and time.monotonic() - found[0] < within else None

    def put(self, key: tuple[str, str, str], verdict: Verification) -> None:
        with self._lock:
            self._verdicts[key] = (time.monotonic(), verdict)

    def forget(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._verdicts.pop(key, None)


LAST_VERDICTS = RecentVerdicts()


class BuiltinTrafficRouter:
    def __init__(self, kube: Kube, config: BuiltinRouter, settings: BuiltinRouterSettings,
                 observed: tuple[SeriesReader, PrometheusSource, str] | None = None,
                 verdicts: RecentVerdicts | None = None) -> None:
        """`observed`: how to read what the replicas serve (reader, Prometheus, scope)."""
        self.kube = kube
        self.config = config
        self.settings = settings
        self.observed = observed
        self.verdicts = LAST_VERDICTS if verdicts is None else verdicts

    def held_table(self, rollout: RolloutRef) -> tuple[int, RoutingTable | None]:
        """The version and table the ConfigMap holds (0 and None if there is none; the
        version alone if the table does not parse, so that ours still supersedes it)."""
        version, table, _, _ = self._held(rollout)
        return version, table

    def _held(self, rollout: RolloutRef) -> tuple[int, RoutingTable | None, bool, str | None]:
        """held_table, whether the ConfigMap is owned by this very rollout (its uid: a
        rollout deleted and created again under the same name is another owner), and its
        resourceVersion."""
        found = self.kube.read_config_map(rollout.namespace, config_map_name(rollout))
        if found is None or not found.data or TABLE_KEY not in found.data:
            return 0, None, False, None
        meta = found.metadata
        owned = any(owner.uid == rollout.uid and owner.controller
                    for owner in (meta.owner_references if meta else None) or ())
        seen = meta.resource_version if meta else None
        try:
            table = parse_table(found.data[TABLE_KEY])
        except TableError:
            raw = _loads(found.data[TABLE_KEY])
            version = raw.get("version") if isinstance(raw, dict) else None
            version = version if isinstance(version, int) and version >= 0 else 0
            return version, None, owned, seen
        return table.version, table, owned, seen

    def apply(self, rollout: RolloutRef, split: TrafficSplit) -> None:
        key = _key("RoutingTable", rollout)
        try:
            wanted = routing_table(rollout, self.config, split, 0, self.settings)
        except TableError as error:
            # What admission could not see (the router would refuse this table): a
            # condition and an Event naming the field, never a retry loop without a status.
            raise RouterError(f"the routing table for spec.trafficRouting.builtin is "
                              f"invalid: {error}") from None
        content = f"{rollout.uid} {table_json(wanted)}"  # a new owner is a new table
        if self.kube.applied.fresh(key, content):
            return  # this process wrote exactly this table moments ago: skip the read
        self._write_table(rollout, wanted, force=False)
        self.kube.create_secret_once(admin_secret(rollout))
        self.kube.create_secret_once(token_keys_secret(rollout))
        for manifest in router_access_manifests(rollout, self.settings):
            apply_access(self.kube, manifest)  # before the pods that run as the account
        for manifest in router_manifests(rollout, self.config, self.settings):
            self.kube.apply(manifest)
        self.kube.applied.remember(key, content)

    def _write_table(self, rollout: RolloutRef, wanted: RoutingTable, *, force: bool) -> None:
        """Write `wanted` (version 0) as the next version, unless the ConfigMap holds it and
        this rollout owns it."""
        version, held, owned, seen = self._held(rollout)
        if (force or held is None or not owned
                or held.model_copy(update={"version": 0}) != wanted):
            self.kube.apply(self._config_map(
                rollout, wanted.model_copy(update={"version": version + 1})))
            self.kube.applied.remember(_key("RoutingTableWritten", rollout), str(version + 1))
        elif seen is not None:
            # Ours as it is (written by an earlier process): its watch event tells a later
            # deletion or edit by someone else from it (the operator's ConfigMap watch).
            self.kube.applied.remember(("ConfigMap", rollout.namespace,
                                        config_map_name(rollout)), "read", seen)

    def verify(self, rollout: RolloutRef, split: TrafficSplit) -> Verification | None:
        """Each replica's table (modelrouter_table_info, through Prometheus) against the one
        written; a table that some replica still lacks after the catch-up time is written again
        as a new version, so that every watch delivers it once more."""
        if self.observed is None:
            return None
        check = _key("ServedTables", rollout)
        recent = self.verdicts.get(check, within=self.settings.verify_interval_seconds)
        if recent is not None:
            return recent  # read moments ago (a retried reconcile records it all the same)
        verdict = self._observe(rollout, split, *self.observed)
        self.verdicts.put(check, verdict)
        return verdict

    def _observe(self, rollout: RolloutRef, split: TrafficSplit, read: SeriesReader,
                 source: PrometheusSource, scope: str) -> Verification:
        query = f"{TABLE_INFO}{{{render_scope(scope, rollout)}}}"
        recheck = float(self.settings.verify_interval_seconds)
        try:
            series = read(source, query)[:MAX_REPLICAS_READ]
        except ProviderError as error:
            return Verification(None, "RoutersNotObserved",
                                f"cannot read {TABLE_INFO} from {source.address}: "
                                f"{error.describe()}", recheck)
        served = [ServedTable(labels.get("pod") or labels.get("instance") or "?",
                              _int(labels.get(VERSION_LABEL)), labels.get(DIGEST_LABEL, ""))
                  for labels in series]
        wanted = routing_table(rollout, self.config, split, 0, self.settings)
        written = self.kube.applied.age(_key("RoutingTableWritten", rollout))
        verdict = judge_served(table_digest(wanted), served,
                               float("inf") if written is None else written,
                               self.settings.catch_up_seconds)
        if verdict.verified is False:
            self._write_table(rollout, wanted, force=True)
        return replace(verdict, recheck_seconds=recheck)

    def remove(self, rollout: RolloutRef) -> None:
        self.kube.applied.forget(_key("RoutingTable", rollout))
        self.verdicts.forget(_key("ServedTables", rollout))
        version, held = self.held_table(rollout)
        if held is not None and held.candidate is not None:
            self.kube.apply(self._config_map(
                rollout, held.model_copy(update={"candidate": None, "version": version + 1})))

    def _config_map(self, rollout: RolloutRef, table: RoutingTable) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": config_map_name(rollout), "namespace": rollout.namespace,
                "labels": {ROLLOUT_LABEL: rollout.name, ROLE_LABEL: "routing", **MANAGED_BY},
                "ownerReferences": [owner_reference(rollout)],
            },
            "data": {TABLE_KEY: table_json(table)},
        }


def apply_access(kube: Kube, manifest: dict[str, Any]) -> None:
    """Apply one of router_access_manifests; a 403 says which rights the operator lacks."""
    try:
        kube.apply(manifest)
    except ApiException as error:
        if error.status != 403:
            raise
        meta = manifest["metadata"]
        raise RouterError(
            f"forbidden to apply the router's {manifest['kind']} "
            f"{meta['namespace']}/{meta['name']}: grant the operator create and patch on "
            "serviceaccounts, roles and rolebindings and list and watch on configmaps "
            "(docs/helm.md), or run routers as a user-managed ServiceAccount "
            f"({ROUTER_SERVICE_ACCOUNT_ENV})") from None


def _key(what: str, rollout: RolloutRef) -> tuple[str, str, str]:
    return (what, rollout.namespace, rollout.name)


def _int(text: str | None) -> int:
    return int(text) if text is not None and text.isdigit() else 0


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def from_spec(context: RouterContext, spec: ModelRolloutSpec) -> BuiltinTrafficRouter:
    observed = None
    if context.read_series is not None and spec.analysis is not None:
        observed = (context.read_series, spec.analysis.prometheus,
                    context.settings.prometheus_scope)
    return BuiltinTrafficRouter(Kube(context.api), spec.traffic_routing.builtin or BuiltinRouter(),
                                context.settings.router, observed)
