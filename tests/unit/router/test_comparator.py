"""JSON-path extraction, prediction comparison and corruption (pure)."""

from __future__ import annotations

import json

import pytest

from controller.contract.jsonpath import parse_path
from controller.router.comparator import compare, corrupt, extract, is_missing

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("predictions[0].label", ("predictions", 0, "label")),
        ("$.outputs[0].data[1]", ("outputs", 0, "data", 1)),
        ("$.score", ("score",)),
        ('$["odd key"]', ("odd key",)),
    ],
)
def test_parse_path(path: str, steps: tuple[object, ...]) -> None:
    assert parse_path(path) == steps


@pytest.mark.parametrize("path", ["", "$", "a..b", "a[x]", "a[0", "a b"])
def test_parse_path_rejects(path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        parse_path(path)


def test_extract_missing() -> None:
    doc = {"predictions": [{"label": "cat"}]}
    assert extract(doc, parse_path("predictions[0].label")) == "cat"
    assert is_missing(extract(doc, parse_path("predictions[1].label")))
    assert is_missing(extract(doc, parse_path("predictions.label")))


def body(value: object) -> bytes:
    return json.dumps({"predictions": [{"label": value, "score": value}]}).encode()


def test_exact_compare() -> None:
    steps = parse_path("predictions[0].label")
    assert compare(body("cat"), body("cat"), steps, "exact", 0) == "agree"
    assert compare(body("cat"), body("dog"), steps, "exact", 0) == "disagree"
    assert compare(body("cat"), b"<html>", steps, "exact", 0) == "error"
    assert compare(body("cat"), b'{"predictions": []}', steps, "exact", 0) == "error"


def test_numeric_compare_with_tolerance() -> None:
    steps = parse_path("predictions[0].score")
    assert compare(body(0.50), body(0.505), steps, "numeric", 10_000) == "agree"
    assert compare(body(0.50), body(0.52), steps, "numeric", 10_000) == "disagree"
    assert compare(body(0.50), body("x"), steps, "numeric", 10_000) == "disagree"


def test_corrupt_changes_the_prediction_only() -> None:
    label = parse_path("predictions[0].label")
    score = parse_path("predictions[0].score")
    out = json.loads(corrupt(body("cat"), label, "exact"))
    assert out["predictions"][0]["label"] != "cat"
    out = json.loads(corrupt(body(0.25), score, "numeric"))
    assert out["predictions"][0]["score"] == pytest.approx(0.75)
    assert corrupt(b"not json", label, "exact") == b"not json"
    assert corrupt(b'{"other": 1}', label, "exact") == b'{"other": 1}'
