"""The model server's defaults from its environment, so that a container needs no arguments."""

from __future__ import annotations

import os
from collections.abc import Mapping

VARIABLES = ("MODEL_PATH", "MODEL_URI", "MODEL_NAME", "PORT")


def environment() -> dict[str, str]:
    """The variables the server reads (MODEL_PATH, MODEL_URI, MODEL_NAME, PORT), once."""
    return {k: os.environ[k] for k in VARIABLES if k in os.environ}


def default_model_path(env: Mapping[str, str]) -> str | None:
    """MODEL_PATH, else MODEL_URI with a file:// scheme (the README's manifests use it)."""
    if env.get("MODEL_PATH"):
        return env["MODEL_PATH"]
    uri = env.get("MODEL_URI", "")
    return uri.removeprefix("file://") if uri.startswith("file://") else None
