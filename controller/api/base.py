"""What every API model shares: camelCase aliases, closed objects, bounded names and numbers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
HTTP_TOKEN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
VARIANT_PLACEHOLDER = "{{variant}}"

PRESERVE_UNKNOWN_FIELDS: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}

MAX_NAME = 63
MAX_DURATION_SECONDS = 7 * 24 * 3600


class ApiModel(BaseModel):
    """Base for every API object: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=DNS_LABEL)]
Percent = Annotated[int, Field(ge=0, le=100)]
DurationSeconds = Annotated[int, Field(ge=0, le=MAX_DURATION_SECONDS)]
LabelMap = Annotated[dict[str, Annotated[str, Field(max_length=253)]], Field(max_length=64)]
