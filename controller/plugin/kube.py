"""The plugin's only I/O with the cluster: kubeconfig resolution like kubectl, and the few
calls it makes, each turning any failure into a one-line PluginError."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from controller.api import GROUP, KIND, PLURAL, VERSION
from controller.plugin.errors import (
    ROLLOUTS,
    Operation,
    PluginError,
    api_error,
    connection_error,
)
from controller.plugin.facts import Json
from controller.rollout.commands import COMMAND_ANNOTATION

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
REQUEST_TIMEOUT = (5, 30)  # connect, read: a black-holed address fails in seconds, not minutes
WATCH_SECONDS = 10  # a watch is renewed this often, which also refreshes the view's ages


@dataclass(frozen=True)
class Connection:
    api: Any  # kubernetes.client.ApiClient
    server: str
    namespace: str  # the default namespace: the context's, in-cluster's, or "default"


def kubeconfig_paths(explicit: str | None, env: Mapping[str, str]) -> str:
    return explicit or env.get("KUBECONFIG") or "~/.kube/config"


def _any_exists(paths: str) -> bool:
    return any(os.path.exists(os.path.expanduser(p)) for p in paths.split(os.pathsep) if p)


def connect(kubeconfig: str | None, context: str | None, env: Mapping[str, str]) -> Connection:
    """--kubeconfig, else KUBECONFIG (paths joined by ':'), else ~/.kube/config, else the
    in-cluster service account — the order kubectl uses."""
    paths = kubeconfig_paths(kubeconfig, env)
    if not _any_exists(paths):
        if kubeconfig is None and env.get("KUBERNETES_SERVICE_HOST"):
            return _in_cluster()
        raise PluginError(f"no kubeconfig found at {paths}: pass --kubeconfig, set KUBECONFIG, "
                          f"or run inside a cluster")
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=paths, context=context,
                                client_configuration=configuration, persist_config=False)
        contexts, current = config.list_kube_config_contexts(config_file=paths)
    except (config.ConfigException, OSError, ValueError) as error:
        raise PluginError(f"cannot use kubeconfig {paths}: {_first_line(error)}") from error
    chosen = next((c for c in contexts if c.get("name") == context), current) if context \
        else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return _connection(configuration, namespace)


def _in_cluster() -> Connection:
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException as error:
        raise PluginError(f"cannot use the in-cluster service account: {error}") from error
    namespace = NAMESPACE_FILE.read_text().strip() if NAMESPACE_FILE.is_file() else "default"
    return _connection(configuration, namespace)


def _connection(configuration: Any, namespace: str) -> Connection:
    configuration.retries = 1  # a refused connection is reported at once, not after 4 tries
    if not configuration.verify_ssl:
        # the kubeconfig asked for insecure-skip-tls-verify; kubectl does not nag per request
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return Connection(client.ApiClient(configuration), configuration.host, namespace)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class Cluster:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.objects = client.CustomObjectsApi(connection.api)
        self.core = client.CoreV1Api(connection.api)

    def _call(self, op: Operation, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        server = self.connection.server
        try:
            return call(*args, **kwargs)
        except ApiException as error:
            raise PluginError(api_error(error.status or 0, error.reason, error.body, op,
                                        server)) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise PluginError(connection_error(server, error)) from error

    def get(self, namespace: str, name: str) -> Json:
        body: Json = self._call(
            Operation("get", ROLLOUTS, namespace, name),
            self.objects.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name,
            _request_timeout=REQUEST_TIMEOUT)
        return body

    def list_rollouts(self, namespace: str | None) -> list[Json]:
        op = Operation("list", ROLLOUTS, namespace)
        if namespace is None:
            body = self._call(op, self.objects.list_cluster_custom_object, GROUP, VERSION,
                              PLURAL, _request_timeout=REQUEST_TIMEOUT)
        else:
            body = self._call(op, self.objects.list_namespaced_custom_object, GROUP, VERSION,
                              namespace, PLURAL, _request_timeout=REQUEST_TIMEOUT)
        items: list[Json] = body.get("items") or []
        return sorted(items, key=lambda r: (r["metadata"].get("namespace", ""),
                                            r["metadata"]["name"]))

    def send_command(self, namespace: str, name: str, value: str) -> Json:
        """A merge patch of the command annotation only: no spec change, so no GitOps drift."""
        patch = {"metadata": {"annotations": {COMMAND_ANNOTATION: value}}}
        body: Json = self._call(
            Operation("patch", ROLLOUTS, namespace, name),
            self.objects.patch_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL,
            name, patch, _request_timeout=REQUEST_TIMEOUT)
        return body

    def events(self, rollout: Json) -> list[Json] | None:
        """The rollout's Events as API dicts; None when these credentials may not list them
        (the status view still works without)."""
        meta = rollout["metadata"]
        selector = f"involvedObject.name={meta['name']},involvedObject.kind={KIND}"
        try:
            found = self._call(Operation("list", "events", meta["namespace"]),
                               self.core.list_namespaced_event, meta["namespace"],
                               field_selector=selector, _request_timeout=REQUEST_TIMEOUT)
        except PluginError as error:
            if isinstance(error.__cause__, ApiException) and error.__cause__.status == 403:
                return None
            raise
        events: list[Json] = [self.connection.api.sanitize_for_serialization(e)
                              for e in found.items]
        uid = meta.get("uid")  # a deleted and re-created rollout of the same name is not ours
        return [e for e in events if (e.get("involvedObject") or {}).get("uid") in (None, uid)]

    def watch(self, namespace: str, name: str) -> Iterator[Json | None]:
        """The rollout now and after each change (None once deleted); it is also yielded
        again each time the watch is renewed, every WATCH_SECONDS."""
        while True:
            current = self.get(namespace, name)
            yield current
            version = current["metadata"].get("resourceVersion")
            for event in self._changes(namespace, name, version):
                if event is None:
                    yield None
                    return
                yield event

    def _changes(self, namespace: str, name: str, version: str | None) -> Iterator[Json | None]:
        stream = watch.Watch()
        op = Operation("watch", ROLLOUTS, namespace, name)
        events = self._call(op, stream.stream, self.objects.list_namespaced_custom_object,
                            GROUP, VERSION, namespace, PLURAL,
                            field_selector=f"metadata.name={name}", resource_version=version,
                            timeout_seconds=WATCH_SECONDS,
                            _request_timeout=(5, WATCH_SECONDS + 10))
        try:
            while True:
                event = self._call(op, next, events, None)
                if event is None or event["type"] == "ERROR":  # ended, or 410 Gone: re-read
                    return
                yield None if event["type"] == "DELETED" else event["object"]
        except PluginError as error:
            if isinstance(error.__cause__, ApiException) and error.__cause__.status == 410:
                return
            raise
        finally:
            stream.stop()
