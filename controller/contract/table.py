"""The routing table: the contract between the operator (which writes it) and the router.

Only integers appear in the table (weights and fractions are basis points, 0..10000), so
what the engine writes is exactly what the router applies.  `parse_table` turns raw input into
a validated, frozen `RoutingTable` or a `TableError` whose messages name the offending field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

BASIS_POINTS = 10_000
STABLE = "stable"
CANDIDATE = "candidate"
TABLE_KEY = "table.json"  # the key of the table in the operator's `<name>-routing` ConfigMap
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^\[[0-9A-Fa-f:.]+\]$")
_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")

BasisPoints = Field(default=0, ge=0, le=BASIS_POINTS)


def _check_token(value: str | None, *, lower: bool) -> str | None:
    # Header names are matched lower-cased on the hot path; cookie names are case-sensitive.
    if value is not None and not _TOKEN_RE.match(value):
        raise ValueError("must be an HTTP token")
    return value.lower() if value is not None and lower else value


class _Model(BaseModel):
    # strict: a float where an int belongs is an error, not a silent truncation.
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class PredictionSpec(_Model):
    """Where the prediction lives in a JSON response and how two predictions are compared."""

    path: str = Field(min_length=1, max_length=256)
    mode: Literal["exact", "numeric"] = "exact"
    # Absolute tolerance for numeric mode, in millionths (10_000 == 0.01).
    tolerance_ppm: int = Field(default=0, ge=0, le=1_000_000_000)

    @field_validator("path")
    @classmethod
    def _path_parses(cls, value: str) -> str:
        from controller.contract.jsonpath import parse_path

        parse_path(value)  # raises ValueError with a precise message
        return value


class FaultHeader(_Model):
    name: str
    value: str = Field(max_length=256)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        checked = _check_token(value, lower=True)
        assert checked is not None
        return checked


class FaultSpec(_Model):
    """Chaos: for `fraction_bp` of requests apply every effect that is set. At most one
    selector confines it to a subpopulation (the fraction applies within it): the units of
    overrides segment `segment`, requests whose header `header.name` is `header.value`, or the
    units whose sticky hash falls in `hashed_fraction_bp` (requests without a unit id never
    match a segment or a hash)."""

    fraction_bp: int = BasisPoints
    added_latency_ms: int = Field(default=0, ge=0, le=60_000)
    error_status: int | None = Field(default=None, ge=400, le=599)
    corrupt_prediction: bool = False
    segment: str | None = Field(default=None, min_length=1, max_length=63)
    header: FaultHeader | None = None
    hashed_fraction_bp: int | None = Field(default=None, ge=1, le=BASIS_POINTS)

    @model_validator(mode="after")
    def _one_selector(self) -> FaultSpec:
        chosen = [s for s in (self.segment, self.header, self.hashed_fraction_bp)
                  if s is not None]
        if len(chosen) > 1:
            raise ValueError("at most one of segment, header, hashedFractionBp")
        return self


class Variant(_Model):
    backends: list[str] = Field(min_length=1, max_length=64)
    model: str = Field(default="", max_length=128)
    host_header: str | None = Field(default=None, max_length=255)
    prediction: PredictionSpec | None = None
    faults: FaultSpec = FaultSpec()

    @field_validator("backends")
    @classmethod
    def _backends_are_host_port(cls, value: list[str]) -> list[str]:
        for address in value:
            split_address(address)
        return value


class Candidate(Variant):
    weight_bp: int = BasisPoints
    mirror_bp: int = BasisPoints


class Shadow(Variant):
    name: str
    mirror_bp: int = Field(default=BASIS_POINTS, ge=0, le=BASIS_POINTS)

    @field_validator("name")
    @classmethod
    def _name_is_label_safe(cls, value: str) -> str:
        if not _NAME_RE.match(value) or value in (STABLE, CANDIDATE):
            raise ValueError("must be a DNS label and not 'stable' or 'candidate'")
        return value


class _HeaderOrCookie(_Model):
    header: str | None = None
    cookie: str | None = None

    @field_validator("header")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        return _check_token(value, lower=True)

    @field_validator("cookie")
    @classmethod
    def _cookie(cls, value: str | None) -> str | None:
        return _check_token(value, lower=False)


class Sticky(_HeaderOrCookie):
    """Where the unit id comes from."""


class Segment(_Model):
    name: str = Field(min_length=1, max_length=63)
    variant: str
    units: list[str] = Field(max_length=100_000)


class Overrides(_HeaderOrCookie):
    """A header or cookie that forces a variant, and named segments pinned to one."""

    segments: list[Segment] = []


class RoutingTable(_Model):
    version: int = Field(ge=0)
    salt: str = Field(min_length=1, max_length=256)
    stable: Variant
    candidate: Candidate | None = None
    shadows: list[Shadow] = Field(default=[], max_length=16)
    sticky: Sticky = Sticky()
    overrides: Overrides = Overrides()
    # Carried in prediction tokens: the rollout (namespace/name) and the serving window (the
    # candidate revision and step), so labels count for the window their prediction was in.
    experiment: str = Field(default="", max_length=320)
    window: str = Field(default="", max_length=128)

    @model_validator(mode="after")
    def _consistent(self) -> RoutingTable:
        names = self.variant_names()
        if len(set(names)) != len(names):
            raise ValueError("shadows: names must be unique")
        seen: dict[str, str] = {}
        for segment in self.overrides.segments:
            if segment.variant not in names:
                raise ValueError(
                    f"overrides.segments[{segment.name}].variant: unknown variant "
                    f"{segment.variant!r}"
                )
            for unit in segment.units:
                if seen.setdefault(unit, segment.name) != segment.name:
                    raise ValueError(
                        f"overrides.segments: unit {unit!r} is in {seen[unit]!r} "
                        f"and {segment.name!r}"
                    )
        segments = {segment.name for segment in self.overrides.segments}
        for name in names:
            wanted = self.variant(name).faults.segment
            if wanted is not None and wanted not in segments:
                raise ValueError(f"{name}.faults.segment: no overrides segment {wanted!r}")
        return self

    def variant_names(self) -> list[str]:
        names = [STABLE]
        if self.candidate is not None:
            names.append(CANDIDATE)
        names.extend(shadow.name for shadow in self.shadows)
        return names

    def variant(self, name: str) -> Variant:
        if name == STABLE:
            return self.stable
        if name == CANDIDATE and self.candidate is not None:
            return self.candidate
        for shadow in self.shadows:
            if shadow.name == name:
                return shadow
        raise KeyError(name)


class TableError(ValueError):
    """A rejected table; `errors` are 'field.path: message' strings."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def split_address(address: str) -> tuple[str, int]:
    """'host:port' -> (host, port); raises ValueError naming the address."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"backend {address!r} must be host:port")
    port = int(port_text)
    if not 0 < port < 65536 or not _HOST_RE.match(host):
        raise ValueError(f"backend {address!r} has an invalid host or port")
    return host.strip("[]"), port


def _format_error(error: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


def table_error(error: ValidationError) -> TableError:
    return TableError([_format_error(e) for e in error.errors()])


def table_json(table: RoutingTable) -> str:
    """The wire form: camelCase keys, unset optionals left out, keys sorted (stable text)."""
    return json.dumps(table.model_dump(mode="json", by_alias=True, exclude_none=True),
                      sort_keys=True)


def table_digest(table: RoutingTable) -> str:
    """The digest of a table's content (its version aside), which a router reports for the
    table it serves: both sides compute it from the same wire form."""
    content = table.model_copy(update={"version": 0})
    return hashlib.sha256(table_json(content).encode()).hexdigest()[:16]


def parse_table(raw: Mapping[str, Any] | bytes | str) -> RoutingTable:
    """Validate a table from JSON text or an already decoded mapping."""
    if isinstance(raw, bytes | str):
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise TableError([f"(document): not valid JSON: {exc}"]) from None
        except RecursionError:  # nested deeper than the interpreter recurses: not a table
            raise TableError(["(document): nested too deeply"]) from None
    if not isinstance(raw, Mapping):
        raise TableError(["(document): must be an object"])
    try:
        return RoutingTable.model_validate(raw)
    except ValidationError as exc:
        raise table_error(exc) from None


def serving_window(candidate: str, step: int) -> str:
    """The table's `window` during canary step `step` of `candidate`: the serving window
    labels are attributed to (metric label `served`), written by the operator, read by the
    analysis."""
    return f"{candidate}/step-{step}"


def check_successor(current: RoutingTable | None, new: RoutingTable) -> None:
    """A table older than the applied one is stale (a late write from an old engine)."""
    if current is not None and new.version < current.version:
        raise TableError([f"version: {new.version} is older than applied {current.version}"])
