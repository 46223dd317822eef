"""The routing table from the API: watch one ConfigMap the operator writes, offer each change.

A watch delivers a new table within a second of the write (a mounted ConfigMap volume can
take a minute). The blocking watch runs in a daemon thread, apart from the request path; tables
reach the event loop through call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from controller.contract.table import TABLE_KEY
from controller.router.source import TableHolder

log = logging.getLogger("modelrouter.table")
RETRY_SECONDS = 1.0


class ConfigMapTableSource:
    def __init__(self, namespace: str, name: str, key: str = TABLE_KEY) -> None:
        self.namespace, self.name, self.key = namespace, name, key
        self._stopped = threading.Event()
        self._uid: str | None = None  # the ConfigMap incarnation whose tables we follow

    async def run(self, holder: TableHolder) -> None:
        loop = asyncio.get_running_loop()

        def offer(text: str, new_lineage: bool) -> None:
            holder.offer(text, f"configmap {self.namespace}/{self.name}", new_lineage)

        # A daemon thread, not the executor: a blocking watch must never hold up shutdown.
        thread = threading.Thread(
            target=self._watch,
            args=(lambda text, new: loop.call_soon_threadsafe(offer, text, new),),
            name="table-configmap-watch", daemon=True)
        thread.start()
        try:
            await asyncio.Event().wait()  # runs until the router cancels its sources
        finally:
            self._stopped.set()

    def _watch(self, deliver: Any) -> None:
        from kubernetes import client, config, watch  # off the request path, loaded once

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        if not client.Configuration.get_default_copy().verify_ssl:
            import urllib3

            log.warning("TLS verification of the API server is off (insecure-skip-tls-verify)")
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        core = client.CoreV1Api()
        selector = f"metadata.name={self.name}"
        while not self._stopped.is_set():
            try:
                stream = watch.Watch().stream(core.list_namespaced_config_map, self.namespace,
                                              field_selector=selector, timeout_seconds=300)
                for event in stream:
                    data = event["object"].data or {}
                    uid = event["object"].metadata.uid
                    if event["type"] in ("ADDED", "MODIFIED") and self.key in data:
                        # A recreated ConfigMap (the rollout was deleted and applied again)
                        # numbers its tables from 1 again: not stale, a new lineage.
                        deliver(data[self.key], uid != self._uid and self._uid is not None)
                        self._uid = uid
            except Exception as error:  # the API may come and go: keep the last good table
                log.warning("watching configmap %s/%s: %s", self.namespace, self.name, error)
                self._stopped.wait(RETRY_SECONDS)

    def stop(self) -> None:
        self._stopped.set()
