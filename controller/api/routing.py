"""How traffic reaches the versions: the builtin model router, Gateway API or Istio."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from controller.api.base import (
    HTTP_TOKEN,
    ApiModel,
    Name,
)
from controller.api.schema import exactly_one_of, list_map
from controller.contract.jsonpath import PATH_PATTERN as PREDICTION_PATH


class UnitSource(ApiModel):
    """Where the sticky unit id (user, session, tenant) comes from."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("header", "cookie"))
    header: str | None = Field(default=None, max_length=128, pattern=HTTP_TOKEN,
                               description="A request header carrying the unit id.")
    cookie: str | None = Field(default=None, max_length=128, pattern=HTTP_TOKEN,
                               description="A cookie carrying the unit id.")


class Segment(ApiModel):
    """A named list of unit ids pinned to one variant (beta testers, internal users)."""

    name: Name = Field(description="The segment's name, unique in segments.")
    variant: Name = Field(description="stable, candidate, or the name of a shadow.")
    units: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        min_length=1, max_length=1000,
        description="The unit ids pinned; a unit may be in one segment only."
    )


class Overrides(ApiModel):
    """Pinned variants: a header or cookie that forces one, and named segments of units."""

    header: str | None = Field(
        default=None, max_length=128, pattern=HTTP_TOKEN,
        description="Header whose value (stable or candidate) forces a variant, e.g. for QA.",
    )
    cookie: str | None = Field(
        default=None, max_length=128, pattern=HTTP_TOKEN,
        description="Cookie whose value (stable or candidate) forces a variant.")
    segments: Annotated[list[Segment] | None, list_map("name")] = Field(
        default=None, max_length=20, description="Named lists of units pinned to one variant.")

    @model_validator(mode="after")
    def _unit_in_one_segment(self) -> Overrides:
        # Not CEL: pairwise over 20 segments of 1000 units the API server estimates 40x its
        # per-rule budget; the operator reports it (InvalidSpec) on its first reconcile.
        seen: dict[str, str] = {}
        for segment in self.segments or ():
            for unit in segment.units:
                if seen.setdefault(unit, segment.name) != segment.name:
                    raise ValueError(f"segments: unit {unit!r} is listed in {seen[unit]!r} "
                                     f"and {segment.name!r}; a unit may be in one segment only")
        return self


class PredictionField(ApiModel):
    """Where a response carries the prediction, so shadow answers can be compared."""

    path: str = Field(min_length=1, max_length=256, pattern=PREDICTION_PATH,
                      description="A JSON path into the response, e.g. predictions[0].label or "
                                  '$.outputs[0].data[0] (steps .key, [index] or ["key"]).')
    mode: Literal["exact", "numeric"] = Field(
        default="exact", description="exact: equal JSON values agree; numeric: numbers within "
        "tolerancePpm agree.")
    tolerance_ppm: int = Field(
        default=0, ge=0, le=1_000_000_000, description="numeric mode: |a-b| <= this/1e6"
    )


# Kubernetes quantities as strings (no floats in spec): cpu in cores or millicores, memory in
# bytes with an optional decimal or binary suffix.
CPU_QUANTITY = r"^([0-9]{1,6}m|[0-9]{1,3}(\.[0-9]{1,3})?)$"
MEMORY_QUANTITY = r"^[0-9]{1,12}(k|M|G|T|Ki|Mi|Gi|Ti)?$"
_MEMORY_SUFFIXES = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def cpu_millis(quantity: str) -> int:
    """A CPU_QUANTITY in millicores: "250m" -> 250, "1.5" -> 1500."""
    if quantity.endswith("m"):
        return int(quantity[:-1])
    whole, _, fraction = quantity.partition(".")
    return int(whole) * 1000 + int(fraction.ljust(3, "0"))


def memory_bytes(quantity: str) -> int:
    """A MEMORY_QUANTITY in bytes: "128Mi" -> 134217728."""
    digits = quantity.rstrip("kMGTi")
    return int(digits) * _MEMORY_SUFFIXES[quantity[len(digits):]]


class ResourceQuantities(ApiModel):
    cpu: str | None = Field(
        default=None, max_length=10, pattern=CPU_QUANTITY,
        description="CPU as a string: millicores (250m) or cores with up to 3 decimals (0.5).",
    )
    memory: str | None = Field(
        default=None, max_length=14, pattern=MEMORY_QUANTITY,
        description="Memory as a string: bytes with an optional suffix (128Mi, 1Gi, 500M).",
    )


def _not_above(resource: str) -> str:
    return (f"!has(self.requests) || !has(self.limits) || !has(self.requests.{resource})"
            f" || !has(self.limits.{resource})"
            f" || quantity(self.requests.{resource}).compareTo("
            f"quantity(self.limits.{resource})) <= 0")


class RouterResources(ApiModel):
    """The router container's requests and limits (core/v1 ResourceRequirements, cpu and memory
    only). Set, it replaces the operator's default (MODELROLLOUT_ROUTER_RESOURCES) as a whole."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": _not_above("cpu"), "message": "requests.cpu must not exceed limits.cpu",
         "fieldPath": ".requests.cpu"},
        {"rule": _not_above("memory"),
         "message": "requests.memory must not exceed limits.memory",
         "fieldPath": ".requests.memory"},
    ]})
    requests: ResourceQuantities | None = Field(
        default=None, description="What the scheduler reserves for each router pod.")
    limits: ResourceQuantities | None = Field(
        default=None, description="The most each router pod may use; without a cpu limit the "
        "router is never throttled.")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> RouterResources:
        requests, limits = self.requests, self.limits
        if requests is None or limits is None:
            return self
        if requests.cpu and limits.cpu and cpu_millis(requests.cpu) > cpu_millis(limits.cpu):
            raise ValueError("requests.cpu must not exceed limits.cpu")
        if (requests.memory and limits.memory
                and memory_bytes(requests.memory) > memory_bytes(limits.memory)):
            raise ValueError("requests.memory must not exceed limits.memory")
        return self

    def wire(self) -> dict[str, dict[str, str]]:
        """As a container's `resources`."""
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if v}


class BuiltinRouter(ApiModel):
    """Our model router: sticky weighted split, shadow tee with comparison, telemetry."""

    prediction: PredictionField | None = Field(
        default=None, description="Where responses carry the prediction; needed to compare "
        "shadows and feedback labels.")

    unit: UnitSource | None = Field(
        default=None, description="Sticky assignment; without it requests split at random."
    )
    salt: str | None = Field(
        default=None, max_length=128,
        description="Hash salt; by default namespace/name/candidate revision, so each release "
        "canaries a fresh set of users.",
    )
    keep_units_across_releases: bool = Field(
        default=False,
        description="Keep the same users in the canary release after release (the salt is then "
        "namespace/name); off by default so no user is a canary in every release.",
    )
    overrides: Overrides | None = Field(
        default=None, description="Headers, cookies and segments that force a variant.")
    replicas: int = Field(default=1, ge=1, le=20, description="Router pods.")
    resources: RouterResources | None = Field(
        default=None, description="The router container's requests and limits; without it the "
        "operator's default applies (MODELROLLOUT_ROUTER_RESOURCES; out of the box 100m cpu "
        "and 128Mi requested, a 512Mi memory limit).")


class GatewayAPIRouter(ApiModel):
    """Manages the weights and RequestMirror filter of one HTTPRoute rule (server-side apply)."""

    http_route: Name = Field(alias="httpRoute", description="The HTTPRoute's name, in the "
                                                            "rollout's namespace.")
    rule_name: Name | None = Field(
        default=None,
        description="The rule to manage; by default the first rule that references the stable"
        " Service.",
    )


class IstioRouter(ApiModel):
    """Manages the weights and mirror of one VirtualService http route (server-side apply)."""

    virtual_service: Name = Field(description="The VirtualService's name, in the rollout's "
                                              "namespace.")
    route_name: Name | None = Field(
        default=None, description="The http route to manage; by default the first."
    )


class TrafficRouting(ApiModel):
    """Who splits the traffic: exactly one of builtin, gatewayAPI, istio."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("builtin", "gatewayAPI", "istio"))
    builtin: BuiltinRouter | None = Field(
        default=None, description="The operator's model router (the default).")
    gateway_api: GatewayAPIRouter | None = Field(
        default=None, alias="gatewayAPI", description="A Gateway API HTTPRoute.")
    istio: IstioRouter | None = Field(default=None, description="An Istio VirtualService.")

    @property
    def kind(self) -> str:
        if self.gateway_api is not None:
            return "gatewayAPI"
        return "istio" if self.istio is not None else "builtin"
