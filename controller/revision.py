"""Revisions: a stable hash of the pod template names a model version and its Deployment."""

from __future__ import annotations

import hashlib
import json
from typing import Any

REVISION_LENGTH = 10


def template_revision(template: dict[str, Any]) -> str:
    """A short, deterministic hash of the template; equal templates give equal revisions."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:REVISION_LENGTH]
