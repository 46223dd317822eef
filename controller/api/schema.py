"""Turn pydantic JSON Schema into a Kubernetes structural schema, plus CEL helpers for the models.

The API server accepts only structural OpenAPI v3: no `$ref`, no `anyOf` for optional fields, no
`additionalProperties: false` beside `properties`. Optional fields become absent rather than
nullable, so that `None` in Python is "field not set" on the wire.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import Field

JsonDict = dict[str, Any]

# propertyNames: a map's key rules are CEL on the map (the structural schema has no key schema).
_DROPPED_KEYS = frozenset({"title", "discriminator", "propertyNames"})


def rule(expression: str, message: str, field_path: str | None = None) -> JsonDict:
    """A single CEL validation for a model's `json_schema_extra`."""
    validation: JsonDict = {"rule": expression, "message": message}
    if field_path is not None:
        validation["fieldPath"] = field_path
    return {"x-kubernetes-validations": [validation]}


def exactly_one_of(*fields: str) -> JsonDict:
    """CEL: exactly one of the (wire-named) fields is set."""
    count = " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in fields)
    return rule(f"{count} == 1", "set exactly one of " + ", ".join(fields))


def list_map(*keys: str) -> Any:
    """A list keyed by `keys`: the API server rejects duplicates and merges by key."""
    return Field(json_schema_extra={
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys),
    })


def to_structural(schema: JsonDict) -> JsonDict:
    """Inline `$defs` and rewrite pydantic's JSON Schema into a structural schema."""
    definitions = schema.get("$defs", {})
    root = {k: v for k, v in schema.items() if k != "$defs"}
    structural: JsonDict = _rewrite(root, definitions)
    return structural


def _rewrite(node: Any, definitions: JsonDict) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    node = _resolve(node, definitions)
    node = _collapse_optional(node, definitions)
    node = _pattern_keys_as_additional(node)
    result: JsonDict = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "additionalProperties" and isinstance(value, bool):
            continue  # extra=forbid/allow: pruning and preserve-unknown-fields say it instead
        if key == "default":
            result[key] = _without_nulls(value)
        elif key == "description":
            result[key] = one_line(value)
        elif key in ("properties", "$defs"):
            result[key] = {name: _rewrite(sub, definitions) for name, sub in value.items()}
        elif key.startswith("x-kubernetes-"):
            result[key] = value
        else:
            result[key] = _rewrite(value, definitions)
    if "properties" in result and "type" not in result:
        result["type"] = "object"
    return result


def one_line(text: str) -> str:
    """A docstring as a description: one line, as kubectl explain and docs/api.md show it."""
    return re.sub(r"\s+", " ", text).strip()


def _pattern_keys_as_additional(node: JsonDict) -> JsonDict:
    """A dict with a key pattern: its values' schema as additionalProperties."""
    patterns = node.get("patternProperties")
    if not patterns:
        return node
    (values,) = patterns.values()
    rest = {k: v for k, v in node.items() if k != "patternProperties"}
    return rest | {"additionalProperties": values}


def _resolve(node: JsonDict, definitions: JsonDict) -> JsonDict:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = copy.deepcopy(definitions[ref.rsplit("/", 1)[-1]])
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    return _resolve(target, definitions) | siblings


def _collapse_optional(node: JsonDict, definitions: JsonDict) -> JsonDict:
    """`anyOf: [X, {type: null}]` → X, keeping the outer keys (description, defaults, rules)."""
    options = node.get("anyOf")
    if not options:
        return node
    concrete = [o for o in options if o != {"type": "null"}]
    if len(concrete) != 1:
        raise ValueError(f"unions are not structural; simplify the model: {options}")
    inner = _resolve(concrete[0], definitions)
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    merged = dict(inner)
    for key, value in outer.items():
        if key == "x-kubernetes-validations":
            merged[key] = [*inner.get(key, []), *value]
        else:
            merged[key] = value
    return merged


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def walk(schema: JsonDict, path: str = "") -> list[tuple[str, JsonDict]]:
    """Every (path, subschema) pair of a structural schema, depth first."""
    found = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        found += walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        found += walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += walk(schema["additionalProperties"], f"{path}{{}}")
    return found
