"""What every API model shares: camelCase aliases, closed objects, bounded names and numbers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
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
# Kubernetes label syntax: an optional DNS-subdomain prefix and '/', then a name of at most 63
# characters (alphanumerics, '-', '_', '.', alphanumeric at both ends); values like names or empty.
LABEL_KEY = (r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?"
             r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
MAX_LABEL_KEY = 317
MAX_LABELS = 64
_KEYS_ARE_LABEL_KEYS = {"x-kubernetes-validations": [{
    "rule": f"self.all(k, size(k) <= {MAX_LABEL_KEY} && k.matches('{LABEL_KEY}'))",
    "message": "keys must be Kubernetes label keys: an optional DNS-subdomain prefix and '/', "
               "then at most 63 of A-Z a-z 0-9 - _ . (alphanumeric at both ends)",
}]}
LabelKey = Annotated[str, Field(max_length=MAX_LABEL_KEY, pattern=LABEL_KEY)]
LabelMap = Annotated[
    dict[LabelKey, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]],
    Field(max_length=MAX_LABELS, json_schema_extra=_KEYS_ARE_LABEL_KEYS),
]
AnnotationMap = Annotated[
    dict[LabelKey, Annotated[str, Field(max_length=4096)]],
    Field(max_length=MAX_LABELS, json_schema_extra=_KEYS_ARE_LABEL_KEYS),
]
