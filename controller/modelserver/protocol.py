"""The KServe v1 wire protocol as pure functions: routes, request validation, response bodies.

Nothing here does I/O, so every malformed input is tested without a socket.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

MAX_INSTANCES = 10_000

Label = int | float | str | bool
Instance = list[float]
RouteKind = Literal["predict", "model", "models", "healthz"]

_MODEL_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?P<verb>:predict)?$")


class RequestError(Exception):
    """A client error: the HTTP status and a message that says what to fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    model: str | None = None


@dataclass(frozen=True)
class Prediction:
    label: Label
    score: float | None  # the probability of the predicted class; None without predict_proba


def route(path: str) -> Route | None:
    """The endpoint a request path names, ignoring any query string; None: no such endpoint."""
    path = path.split("?", 1)[0]
    if path == "/healthz":
        return Route("healthz")
    if path in ("/v1/models", "/v1/models/"):
        return Route("models")
    found = _MODEL_PATH.match(path)
    if found is None:
        return None
    return Route("predict" if found["verb"] else "model", found["name"])


def check_model_name(requested: str | None, served: str) -> None:
    if requested != served:
        raise RequestError(404, f"model {requested!r} not found; this server serves {served!r}")


def check_body_size(content_length: str | None, max_bytes: int) -> int:
    """The body length to read: required (the router re-frames chunked bodies) and bounded."""
    if content_length is None:
        raise RequestError(411, "a Content-Length header is required")
    try:
        length = int(content_length)
    except ValueError:
        raise RequestError(400, f"invalid Content-Length {content_length!r}") from None
    if length < 0:
        raise RequestError(400, f"invalid Content-Length {content_length!r}")
    if length > max_bytes:
        raise RequestError(413, f"request body of {length} bytes is over the limit of "
                                f"{max_bytes} bytes")
    return length


def parse_instances(body: bytes, n_features: int) -> list[Instance]:
    """`{"instances": [[x1, ..., xn], ...]}` -> rows of floats, or a RequestError naming the
    first problem (its JSON path and, for a wrong width, the expected feature count)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"request body is not valid JSON: {error}") from None
    if not isinstance(document, dict) or "instances" not in document:
        raise RequestError(400, 'expected a JSON object {"instances": [[...features...], ...]}')
    instances = document["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError(400, "instances: expected a non-empty list of feature lists")
    if len(instances) > MAX_INSTANCES:
        raise RequestError(400, f"instances: at most {MAX_INSTANCES} per request, "
                                f"got {len(instances)}")
    return [_instance(row, i, n_features) for i, row in enumerate(instances)]


def _instance(row: Any, index: int, n_features: int) -> Instance:
    where = f"instances[{index}]"
    if not isinstance(row, list):
        raise RequestError(400, f"{where}: expected a list of {n_features} numbers, "
                                f"got {type(row).__name__}")
    if len(row) != n_features:
        raise RequestError(400, f"{where}: expected {n_features} features, got {len(row)}")
    return [_number(value, f"{where}[{j}]") for j, value in enumerate(row)]


def _number(value: Any, where: str) -> float:
    # bool is an int subclass in Python, but true/false is never a feature value here
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(400, f"{where}: expected a number, got {json.dumps(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise RequestError(400, f"{where}: expected a finite number, got {value}")
    return number


def predictions_body(predictions: Sequence[Prediction]) -> dict[str, Any]:
    return {"predictions": [{"label": p.label, "score": p.score} for p in predictions]}


def model_body(name: str) -> dict[str, Any]:
    return {"name": name, "ready": True}


def error_body(message: str) -> dict[str, Any]:
    return {"error": message}


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()
