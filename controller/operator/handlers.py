"""The kopf shell: one loop per ModelRollout that funnels every trigger into one reconcile.

Create, update, resume after a restart, a child Deployment's change and the rollout's own
timers all wake the same per-object loop (a kopf daemon); the loop runs the idempotent
`Reconciler.reconcile` and sleeps until the plan's next wake-up or the next trigger. One loop
per object means one reconcile at a time per object, without locks.

Reads come from the watches, as an informer cache would serve them: the daemon's live body of
the rollout and an index of every child Deployment (kopf fills indexes before any handler
runs, so a restarted operator never decides on a half-listed cache).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import kopf
import urllib3
from aiohttp import web
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from controller.analysis.analyzer import PrometheusAnalyzer
from controller.api import GROUP, PLURAL, VERSION
from controller.operator.apiclient import api_ready, bounded_api_client
from controller.operator.children import ROLE_LABEL, ROLLOUT_LABEL
from controller.operator.kube import APPLIED, FIELD_MANAGER, Kube
from controller.operator.observed import ObservedDeployment, observe_deployment
from controller.operator.reconciler import Reconciler
from controller.operator.recovery import ApiReturn, backoff_seconds, unreachable
from controller.operator.settings import ApiSettings, OperatorSettings
from controller.providers.prometheus import prometheus_provider, read_series
from controller.rollout.commands import COMMAND_ANNOTATION
from controller.rollout.machine import RESYNC_SECONDS
from controller.traffic import registry
from controller.traffic.base import RouterContext

FINALIZER = f"{GROUP}/finalizer"
ANNOTATION_PREFIX = GROUP
RECONCILE_THREADS = 16
# kopf's own API connections: its watch streams and its few writes (finalizers, Events).
# Unbounded, a burst of writes opens a TLS connection each, with a 256 KiB buffer apiece.
KOPF_CONNECTIONS = 16

log = logging.getLogger(__name__)


def configure(settings: kopf.OperatorSettings, api: ApiSettings | None = None) -> None:
    """Our own annotation prefix and finalizer name; no kopf.zalando.org marks on user objects."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.reporting_component = FIELD_MANAGER
    settings.posting.level = logging.WARNING  # Events come from the core's decisions, not logs
    api = api or ApiSettings()
    settings.watching.server_timeout = 270
    settings.watching.connect_timeout = api.connect_timeout_seconds
    settings.networking.connect_timeout = api.connect_timeout_seconds
    settings.networking.request_timeout = api.timeout_seconds


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff-base: it serves on.update handlers, and we have none (a reconcile compares
    metadata.generation with status.observedGeneration).  kopf's default stores it in an
    annotation, one PATCH per spec change that races our status write into a 409 and a retry.
    Without one, kopf sees each event as a creation with no handlers and writes nothing."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def api_client(settings: ApiSettings) -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = 2 * RECONCILE_THREADS  # reconciles run in threads
    if not configuration.verify_ssl:
        log.warning("TLS verification of the API server is off (insecure-skip-tls-verify)")
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return bounded_api_client(configuration, settings)


def needs_attention(body: kopf.Body) -> bool:
    """Whether a ModelRollout event asks for a reconcile (our own status writes do not)."""
    status = body.get("status") or {}
    annotations = body.metadata.annotations or {}
    return (status.get("observedGeneration") != body.metadata.get("generation")
            or annotations.get(COMMAND_ANNOTATION, status.get("lastCommand"))
            != status.get("lastCommand"))


def _wake(memo: kopf.Memo, namespace: str | None, name: str | None) -> None:
    wake = memo.wakeups.get((namespace, name))
    if wake is not None:
        wake.set()


@kopf.on.login()
async def _login(**kwargs: Any) -> kopf.AiohttpSession | None:
    """kopf's own login from the client library's config, on a bounded connection pool."""
    info = kopf.login_via_client(**kwargs)
    if info is None:
        return None
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=KOPF_CONNECTIONS, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(), auth=info.as_aiohttp_basic_auth())
    return kopf.AiohttpSession(server=info.server, default_namespace=info.default_namespace,
                               expiration=info.expiration, aiohttp_session=session)


@kopf.on.startup()
async def _startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    operator_settings: OperatorSettings = memo.settings  # from main(), via kopf.run(memo=...)
    configure(settings, operator_settings.api)
    # Reconciles block on the API in threads; the default pool (cores + 4) would queue them.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=RECONCILE_THREADS, thread_name_prefix="reconcile"))
    api = api_client(operator_settings.api)
    memo.reconciler = build_reconciler(api, operator_settings)
    memo.api_return = ApiReturn(lambda: api_ready(api),
                                operator_settings.api.probe_interval_milliseconds / 1000)
    memo.metrics_runner = await serve_metrics(memo, operator_settings.metrics_address)
    memo.wakeups = {}
    memo.children_seen = {}


def build_reconciler(api: client.ApiClient, settings: OperatorSettings) -> Reconciler:
    analyzer = PrometheusAnalyzer(
        lambda source: prometheus_provider(source, settings.prometheus),
        scope=settings.prometheus_scope, min_window_seconds=settings.min_window_seconds)
    context = RouterContext(api, settings,
                            lambda source, query: read_series(source, query, settings.prometheus))
    return Reconciler(Kube(api), analyzer, lambda spec: registry.router_for(context, spec))


async def serve_metrics(memo: Any, address: str | None) -> web.AppRunner | None:
    """Prometheus metrics at http://<address>/metrics (host:port), if an address is set."""
    if not address:
        return None
    host, _, port = address.rpartition(":")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=memo.reconciler.metrics.render(),
                            content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
    return runner


@kopf.on.cleanup()
async def _cleanup(memo: Any, **_: Any) -> None:
    runner = getattr(memo, "metrics_runner", None)
    if runner is not None:
        await runner.cleanup()


# Wake-ups are async: waking a loop must never wait for a thread.
@kopf.on.event(GROUP, VERSION, PLURAL)
async def _rollout_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.reconciler.ahead_of_watch.delivered((body.metadata.namespace, body.metadata.name),
                                             body)
    if needs_attention(body):
        _wake(memo, body.metadata.namespace, body.metadata.name)


@kopf.index("apps", "v1", "deployments", labels={ROLLOUT_LABEL: kopf.PRESENT})
async def rollout_children(body: kopf.Body, namespace: str | None, labels: kopf.Labels,
                           **_: Any) -> dict[tuple[str | None, str], ObservedDeployment]:
    """Every child Deployment, by (namespace, rollout): what a reconcile would list."""
    return {(namespace, labels[ROLLOUT_LABEL]): observe_deployment(body)}


@kopf.on.event("apps", "v1", "deployments", labels={ROLLOUT_LABEL: kopf.PRESENT})
async def _child_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo,
                         **_: Any) -> None:
    """Wake the rollout only when what it reads of the child changed: most Deployment
    events are the controllers' bookkeeping (conditions, timestamps)."""
    key = (body.metadata.namespace, body.metadata.name)
    rollout = body.metadata.labels.get(ROLLOUT_LABEL)
    if _changed_by_others("Deployment", event, body, body.metadata.get("generation")):
        if body.metadata.labels.get(ROLE_LABEL) == "router":
            APPLIED.forget(("RoutingTable", body.metadata.namespace or "", rollout or ""))
        memo.children_seen.pop(key, None)
        _wake(memo, body.metadata.namespace, rollout)
        return
    if event["type"] == "DELETED":
        memo.children_seen.pop(key, None)
    else:
        summary = observe_deployment(body)
        if memo.children_seen.get(key) == summary:
            return
        memo.children_seen[key] = summary
    _wake(memo, body.metadata.namespace, rollout)


@kopf.on.event("", "v1", "configmaps", labels={ROLE_LABEL: "routing"})
async def _table_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo,
                         **_: Any) -> None:
    """The routing table deleted, or written by someone else: the next reconcile reads it
    and writes it again (with its owner), instead of trusting what this process wrote."""
    if _changed_by_others("ConfigMap", event, body, body.metadata.get("resourceVersion")):
        rollout = body.metadata.labels.get(ROLLOUT_LABEL)
        APPLIED.forget(("RoutingTable", body.metadata.namespace or "", rollout or ""))
        _wake(memo, body.metadata.namespace, rollout)


def _changed_by_others(kind: str, event: kopf.RawEvent, body: kopf.Body,
                       witness: object) -> bool:
    """Whether a child that this process applied is gone, or its `witness` (a Deployment's
    generation, a ConfigMap's resourceVersion) is not the one our last write left; then what
    this process remembers applying is forgotten, so that the next reconcile writes it again.
    (Our own write's event may arrive before we note its witness: one extra, idempotent
    apply.)"""
    key = (kind, body.metadata.namespace or "", body.metadata.name or "")
    remembered = APPLIED.witness(key)
    if remembered is None:
        return False  # not applied by this process (or already forgotten)
    if event["type"] != "DELETED" and str(witness) == remembered:
        return False
    APPLIED.forget(key)
    return True


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=30)
async def _rollout_loop(stopped: kopf.DaemonStopped, namespace: str | None, name: str,
                        body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    assert namespace is not None  # ModelRollouts are namespaced
    children_index: kopf.Index[Any, ObservedDeployment] = kwargs["rollout_children"]
    key = (namespace, name)
    wake = memo.wakeups.setdefault(key, asyncio.Event())
    api_return: ApiReturn = memo.api_return
    max_backoff = float(memo.settings.api.max_backoff_seconds)
    failures = 0
    try:
        while not stopped:
            wake.clear()
            # Snapshots taken on the event loop, where kopf updates both.
            cached, children = dict(body), list(children_index.get(key, ()))
            api_back: asyncio.Event | None = None
            try:
                delay = await asyncio.to_thread(memo.reconciler.reconcile, namespace, name,
                                                cached, children)
                failures = 0
            except Exception as error:  # the loop must outlive any one bad reconcile
                failures += 1
                delay = backoff_seconds(failures, max_backoff)
                memo.reconciler.metrics.reconcile_failed(namespace, name)
                lost = unreachable(error)
                if lost:
                    api_back = api_return.waiter()  # woken as soon as the API is back
                detail = (f"{error.status} {error.reason}" if isinstance(error, ApiException)
                          else repr(error))
                log.warning("%s/%s: reconcile failed (%s); again in %.0fs%s", namespace, name,
                            detail, delay, " or once the API server is ready" if lost else "",
                            exc_info=not (lost or isinstance(error, ApiException)))
            await _sleep(wake, stopped, RESYNC_SECONDS if delay is None else delay, api_back)
    finally:
        memo.wakeups.pop(key, None)


async def _sleep(wake: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float,
                 api_back: asyncio.Event | None = None) -> None:
    """Until the next trigger, the stop signal, the API's return (when it was away), or
    `seconds`, whichever comes first."""
    if seconds <= 0:
        return
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopped.wait())]
    if api_back is not None:
        waiters.append(asyncio.ensure_future(api_back.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


@kopf.on.delete(GROUP, VERSION, PLURAL)
def _release(body: kopf.Body, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    """The finalizer's work: routing back to stable-only before the object goes."""
    assert namespace is not None
    memo.reconciler.release(namespace, name, dict(body))
