"""Fields a person wrote that the API server dropped (pruned): said, not silently ignored.

A client without field validation (kubectl --validate=false, many client libraries and GitOps
tools) sends unknown fields, and the API server prunes them: `pause: {duration: 10m}` (Argo's
name) is stored as `pause: {}`, a wait for a person for ever. kubectl's last-applied annotation
keeps what was written; its spec fields that the models do not know are the pruned ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import ValidationError

from controller.api.spec import ModelRolloutSpec

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_LAST_APPLIED_BYTES = 1024 * 1024
MAX_REPORTED = 10


def _path(location: tuple[int | str, ...]) -> str:
    path = "spec"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def pruned_fields(annotations: Mapping[str, str]) -> list[str]:
    """The spec fields of the last kubectl-applied manifest that are not ModelRollout fields."""
    text = annotations.get(LAST_APPLIED)
    if not text or len(text) > MAX_LAST_APPLIED_BYTES:
        return []
    try:
        applied = json.loads(text)
    except ValueError:
        return []
    spec = applied.get("spec") if isinstance(applied, dict) else None
    if not isinstance(spec, dict):
        return []
    try:
        ModelRolloutSpec.model_validate(spec)
    except ValidationError as error:
        return [_path(issue["loc"]) for issue in error.errors()
                if issue["type"] == "extra_forbidden"][:MAX_REPORTED]
    return []


def pruned_message(fields: list[str]) -> str:
    return (", ".join(fields) + ": in the applied manifest but not ModelRollout fields, so the "
            "API server dropped them (check the spelling; kubectl apply --validate=strict "
            "refuses such a manifest)")
