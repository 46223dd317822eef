"""The model version: a core/v1 pod template (only what the operator relies on is checked)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from controller.api.base import (
    PRESERVE_UNKNOWN_FIELDS,
    ApiModel,
    LabelMap,
    Name,
)


class ContainerPort(ApiModel):
    model_config = ConfigDict(extra="allow")
    container_port: int = Field(ge=1, le=65535)


class Container(ApiModel):
    """The fields we rely on; every other core/v1 Container field passes through unvalidated."""

    model_config = ConfigDict(extra="allow", json_schema_extra=PRESERVE_UNKNOWN_FIELDS)
    name: Name
    image: str = Field(min_length=1, max_length=512)
    ports: list[ContainerPort] | None = Field(default=None, max_length=16)


class PodSpec(ApiModel):
    model_config = ConfigDict(extra="allow", json_schema_extra=PRESERVE_UNKNOWN_FIELDS)
    containers: list[Container] = Field(min_length=1, max_length=16)


class PodTemplateMetadata(ApiModel):
    labels: LabelMap | None = None
    annotations: LabelMap | None = None


class PodTemplate(ApiModel):
    """A core/v1 PodTemplateSpec; a change of it is a new revision and starts a rollout."""

    metadata: PodTemplateMetadata | None = None
    spec: PodSpec
