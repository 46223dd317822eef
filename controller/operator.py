"""The kopf shell: thin, idempotent handlers that gather inputs, call the pure core, apply."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import kopf

from controller.api import GROUP, PLURAL, VERSION
from controller.rollout.reconcile import reconcile

FINALIZER = f"{GROUP}/finalizer"
ANNOTATION_PREFIX = GROUP
FIELD_MANAGER = "modelrollout-operator"


def configure(settings: kopf.OperatorSettings) -> None:
    """Our own annotation prefix and finalizer name; no kopf.zalando.org marks on user objects."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.reporting_component = FIELD_MANAGER
    settings.posting.level = logging.WARNING  # Events come from the core's decisions, not logs
    settings.watching.server_timeout = 270
    settings.networking.request_timeout = 30


@kopf.on.startup()
def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    configure(settings)


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def _reconcile(
    body: kopf.Body, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta,
    patch: kopf.Patch, **_: Any,
) -> None:
    decision = reconcile(dict(spec), dict(status), int(meta.get("generation", 0)),
                         datetime.now(UTC))
    patch.status.update(decision.status.model_dump(by_alias=True, exclude_none=True))
    for event in decision.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
