"""Revisions: a stable hash of the pod template names a model version and its Deployment."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from controller.api.spec import ModelRolloutSpec
from controller.api.template import PodTemplate

REVISION_LENGTH = 10


def template_revision(template: dict[str, Any]) -> str:
    """A short, deterministic hash of the template; equal templates give equal revisions."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:REVISION_LENGTH]


def pod_template_revision(template: PodTemplate) -> str:
    return template_revision(template.model_dump(by_alias=True, exclude_none=True))


def spec_revision(spec: ModelRolloutSpec) -> str:
    """The revision of the model version the spec asks for."""
    return pod_template_revision(spec.template)


def shadow_revisions(spec: ModelRolloutSpec) -> dict[str, str]:
    return {s.name: pod_template_revision(s.template) for s in spec.shadows or ()}
