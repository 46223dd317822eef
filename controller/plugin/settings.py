"""What the plugin takes from its environment, read once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

# The variables kubectl itself reads to find a cluster.
CLUSTER_VARIABLES = ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")


@dataclass(frozen=True)
class PluginSettings:
    no_color: bool = False  # NO_COLOR set (https://no-color.org)
    cluster_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PluginSettings:
        environ = os.environ if environ is None else environ
        return cls(no_color=bool(environ.get("NO_COLOR")),
                   cluster_env={k: environ[k] for k in CLUSTER_VARIABLES if k in environ})
