"""Sticky, monotone variant assignment (pure).

PlanOut hashing: h = int(sha1("<salt>.<param>.<unit>")[:15], 16).  A unit's bucket is
h % 10000; the candidate owns buckets [0, weight_bp), so raising the weight only moves units
from stable to candidate and never back.  Changing the salt reshuffles (new experiment).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from controller.contract.table import BASIS_POINTS, CANDIDATE, STABLE, RoutingTable
from controller.router.token import EXPERIMENT, FORCED, SEGMENT

T = TypeVar("T")
SPLIT_PARAM = "split"
UNIT_BUCKET_PARAM = "unit_bucket"
_MAX_HASH = 0xFFFFFFFFFFFFFFF


def planout_hash(experiment_salt: str, param_salt: str, unit: object) -> int:
    digest = hashlib.sha1(f"{experiment_salt}.{param_salt}.{unit}".encode()).digest()
    # The first 15 hex digits are the first 60 bits: the same number, without the hex text.
    return int.from_bytes(digest[:8], "big") >> 4


def uniform_choice(choices: Sequence[T], experiment_salt: str, param_salt: str, unit: object) -> T:
    return choices[planout_hash(experiment_salt, param_salt, unit) % len(choices)]


def uniform(experiment_salt: str, param_salt: str, unit: object) -> float:
    return planout_hash(experiment_salt, param_salt, unit) / _MAX_HASH


def bucket_of(salt: str, unit: str) -> int:
    return planout_hash(salt, SPLIT_PARAM, unit) % BASIS_POINTS


def unit_bucket_of(salt: str, unit: str, buckets: int) -> int:
    """The unit's analysis bucket in [0, buckets): a hash with its own parameter salt, so
    it is independent of the arm a unit is assigned to."""
    return planout_hash(salt, UNIT_BUCKET_PARAM, unit) % buckets


def split(bucket: int, weight_bp: int) -> str:
    return CANDIDATE if bucket < weight_bp else STABLE


def cookie_value(header: str, name: str) -> str | None:
    """The value of cookie `name` in a Cookie header, or None."""
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


@dataclass(frozen=True, slots=True)
class CompiledTable:
    """A routing table compiled for the request path."""

    version: int
    salt: str
    names: tuple[str, ...]
    weight_bp: int
    # (variant, mirror_bp) pairs: the candidate (during mirror steps) and every shadow.
    mirrors: tuple[tuple[str, int], ...]
    sticky_header: str | None = None
    sticky_cookie: str | None = None
    force_header: str | None = None
    force_cookie: str | None = None
    segment_of: dict[str, str] = field(default_factory=dict)
    experiment: str = ""
    window: str = ""

    @property
    def needs_cookies(self) -> bool:
        return self.sticky_cookie is not None or self.force_cookie is not None


def compile_plan(table: RoutingTable) -> CompiledTable:
    mirrors: list[tuple[str, int]] = []
    weight = 0
    if table.candidate is not None:
        weight = table.candidate.weight_bp
        if table.candidate.mirror_bp:
            mirrors.append((CANDIDATE, table.candidate.mirror_bp))
    mirrors.extend((s.name, s.mirror_bp) for s in table.shadows if s.mirror_bp)
    segment_of = {
        unit: segment.variant for segment in table.overrides.segments for unit in segment.units
    }
    return CompiledTable(
        version=table.version,
        salt=table.salt,
        names=tuple(table.variant_names()),
        weight_bp=weight,
        mirrors=tuple(mirrors),
        sticky_header=table.sticky.header,
        sticky_cookie=table.sticky.cookie,
        force_header=table.overrides.header,
        force_cookie=table.overrides.cookie,
        segment_of=segment_of,
        experiment=table.experiment,
        window=table.window,
    )


def choose(plan: CompiledTable, unit: str | None, forced: str | None,
           random_bp: int) -> tuple[str, str]:
    """(variant, assignment): force header/cookie > segment > sticky hash > random draw
    (`random_bp` in [0, 10000)); only EXPERIMENT assignments belong to the experiment."""
    if forced is not None and forced in plan.names:
        return forced, FORCED
    if unit is not None:
        pinned = plan.segment_of.get(unit)
        if pinned is not None:
            return pinned, SEGMENT
        if not plan.weight_bp:
            return STABLE, EXPERIMENT
        return split(bucket_of(plan.salt, unit), plan.weight_bp), EXPERIMENT
    return split(random_bp, plan.weight_bp), EXPERIMENT


def choose_primary(plan: CompiledTable, unit: str | None, forced: str | None,
                   random_bp: int) -> str:
    return choose(plan, unit, forced, random_bp)[0]


def choose_mirrors(plan: CompiledTable, primary: str, draws: Sequence[int]) -> list[str]:
    """Variants that get a copy: one draw in [0, 10000) per entry of `plan.mirrors`."""
    return [
        name
        for (name, mirror_bp), draw in zip(plan.mirrors, draws, strict=True)
        if name != primary and draw < mirror_bp
    ]
