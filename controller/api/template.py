"""The model version: a core/v1 pod template.

Only what the operator relies on is modelled and checked here; every other core/v1 field is
kept as written (x-kubernetes-preserve-unknown-fields) and validated by the API server itself:
the operator dry-runs each new revision's Deployment before creating it (reason InvalidTemplate).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator

from controller.api.base import (
    PRESERVE_UNKNOWN_FIELDS,
    AnnotationMap,
    ApiModel,
    LabelMap,
    Name,
)
from controller.api.schema import list_map

IMAGE = r"^\S+$"


class ContainerPort(ApiModel):
    """A core/v1 ContainerPort (name, protocol and the other fields pass through as written)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=PRESERVE_UNKNOWN_FIELDS)
    container_port: int = Field(ge=1, le=65535, description="The port the container listens on.")


class Container(ApiModel):
    """A core/v1 Container: every field a Deployment accepts (see kubectl explain
    deployment.spec.template.spec.containers); name, image and ports are checked here."""

    model_config = ConfigDict(extra="allow", json_schema_extra=PRESERVE_UNKNOWN_FIELDS)
    name: Name = Field(description="The container's name, a DNS label unique in the pod.")
    image: str = Field(min_length=1, max_length=512, pattern=IMAGE,
                       description="The container image, e.g. registry.example/model:1.2 "
                                   "(no whitespace).")
    ports: list[ContainerPort] | None = Field(
        default=None, max_length=16, description="Ports the container exposes (core/v1).")


class PodSpec(ApiModel):
    """A core/v1 PodSpec: every field a Deployment accepts (see kubectl explain
    deployment.spec.template.spec)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=PRESERVE_UNKNOWN_FIELDS)
    containers: Annotated[list[Container], list_map("name")] = Field(
        min_length=1, max_length=16, description="The pod's containers, unique by name.")

    @field_validator("containers")
    @classmethod
    def _unique_names(cls, containers: list[Container]) -> list[Container]:
        names = [c.name for c in containers]
        if len(set(names)) != len(names):
            raise ValueError("container names must be unique")
        return containers


class PodTemplateMetadata(ApiModel):
    """The pod's labels and annotations (the operator adds its own labels)."""

    labels: LabelMap | None = Field(
        default=None, description="Pod labels: Kubernetes label keys and values, at most 64.")
    annotations: AnnotationMap | None = Field(
        default=None, description="Pod annotations: Kubernetes label keys, at most 64.")


class PodTemplate(ApiModel):
    """A core/v1 PodTemplateSpec; a change of it is a new revision and starts a rollout."""

    metadata: PodTemplateMetadata | None = Field(
        default=None, description="The pod's labels and annotations.")
    spec: PodSpec = Field(description="The core/v1 PodSpec of the model server's pods.")
