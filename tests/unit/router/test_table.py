"""Routing-table validation: integers only, field-named errors, stale versions (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.contract.table import RoutingTable, TableError, check_successor, parse_table
from controller.router.source import TableHolder, decode_document

pytestmark = pytest.mark.unit


def valid() -> dict[str, Any]:
    return {
        "version": 3,
        "salt": "rollout-abc",
        "stable": {"backends": ["10.0.0.1:8080"], "model": "v1",
                   "prediction": {"path": "predictions[0].label"}},
        "candidate": {"backends": ["cand.ns.svc:8080", "[::1]:80"], "weightBp": 500,
                      "mirrorBp": 0, "faults": {"fractionBp": 100, "errorStatus": 503}},
        "shadows": [{"name": "shadow-v3", "backends": ["10.0.0.3:8080"], "mirrorBp": 2500,
                     "prediction": {"path": "$.score", "mode": "numeric",
                                    "tolerancePpm": 10_000}}],
        "sticky": {"header": "X-User-Id", "cookie": "uid"},
        "overrides": {"header": "x-force-variant",
                      "segments": [{"name": "qa", "variant": "candidate", "units": ["a", "b"]}]},
    }


def errors_of(doc: Any) -> list[str]:
    with pytest.raises(TableError) as info:
        parse_table(doc)
    return info.value.errors


def test_valid_table_round_trips_through_json() -> None:
    table = parse_table(valid())
    assert table.candidate is not None
    assert table.candidate.weight_bp == 500
    assert table.sticky.header == "x-user-id"  # matched lower-case
    assert table.sticky.cookie == "uid"
    again = parse_table(json.dumps(table.model_dump(mode="json", by_alias=True)))
    assert again == table


def test_float_weight_is_rejected_with_field_name() -> None:
    doc = valid()
    doc["candidate"]["weightBp"] = 12.5
    assert any(e.startswith("candidate.weightBp:") for e in errors_of(doc))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["candidate"].update(weightBp=10_001), "candidate.weightBp"),
        (lambda d: d["stable"].update(backends=["no-port"]), "stable.backends"),
        (lambda d: d["stable"].update(backends=[]), "stable.backends"),
        (lambda d: d["shadows"][0].update(name="stable"), "shadows.0.name"),
        (lambda d: d["shadows"][0].update(name="Bad_Name"), "shadows.0.name"),
        (lambda d: d["candidate"]["faults"].update(errorStatus=200),
         "candidate.faults.errorStatus"),
        (lambda d: d["stable"]["prediction"].update(path="a..b"), "stable.prediction.path"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d.pop("salt"), "salt"),
        (lambda d: d["sticky"].update(header="bad header"), "sticky.header"),
    ],
)
def test_invalid_fields_are_named(mutate: Any, field: str) -> None:
    doc = valid()
    mutate(doc)
    errors = errors_of(doc)
    assert any(e.startswith(field + ":") for e in errors), errors


def test_segment_must_name_a_variant_and_units_be_unique() -> None:
    doc = valid()
    doc["overrides"]["segments"][0]["variant"] = "nope"
    assert any("overrides.segments[qa].variant" in e for e in errors_of(doc))
    doc = valid()
    doc["overrides"]["segments"].append({"name": "beta", "variant": "stable", "units": ["a"]})
    assert any("'a'" in e for e in errors_of(doc))


def test_duplicate_shadow_names() -> None:
    doc = valid()
    doc["shadows"].append(dict(doc["shadows"][0]))
    assert any("unique" in e for e in errors_of(doc))


def test_non_json_and_non_object() -> None:
    assert errors_of(b"{not json")[0].startswith("(document)")
    assert errors_of("[1, 2]") == ["(document): must be an object"]


def test_stale_version_refused() -> None:
    newer = parse_table(valid())
    older = parse_table({**valid(), "version": 2})
    check_successor(older, newer)
    with pytest.raises(TableError, match="older"):
        check_successor(newer, older)


def test_yaml_documents_decode() -> None:
    text = b"version: 1\nsalt: s\nstable:\n  backends: ['127.0.0.1:80']\n"
    assert parse_table(decode_document(text)).version == 1


def test_holder_keeps_last_good_table_and_counts_rejections() -> None:
    applied: list[RoutingTable] = []
    rejected: list[str] = []
    holder = TableHolder(applied.append, rejected.append)
    assert holder.offer(valid(), "test") == []
    bad = valid()
    bad["candidate"]["weightBp"] = -1
    assert holder.offer(bad, "test")
    assert holder.offer({**valid(), "version": 1}, "test")
    assert holder.current is not None
    assert holder.current.version == 3
    assert len(applied) == 1
    assert rejected == ["invalid", "stale"]
    assert holder.offer(valid(), "test") == []  # same table again: no re-apply
    assert len(applied) == 1


def test_a_table_nested_too_deeply_is_refused_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(TableError, match="nested too deeply"):
        parse_table(deep)
    with pytest.raises(TableError, match="nested too deeply"):
        decode_document(deep.encode())
