"""The JSON nesting pre-check before every json.loads of client input (pure)."""

from __future__ import annotations

import json

import pytest

from controller.router.comparator import is_missing, prediction_of
from controller.router.feedback import FeedbackError, parse_feedback
from controller.router.wire import json_too_deep

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "depth"), [
    (b"{}", 1), (b"[[[]]]", 3), (b'{"a": [1, {"b": [2]}]}', 4), (b'"[[[[[["', 0),
    (b'["\\\\", "\\"[[[", [[]]]', 3), (b"[]" * 100, 1), (b"1", 0), (b"", 0),
])
def test_json_depth_is_counted_outside_strings(text: bytes, depth: int) -> None:
    assert not json_too_deep(text, depth)
    if depth:
        assert json_too_deep(text, depth - 1)


def test_deep_json_is_refused_before_parsing() -> None:
    deep = b"[" * 100_000
    assert json_too_deep(deep, 64)
    with pytest.raises(FeedbackError, match="JSON nested deeper than 64 levels"):
        parse_feedback(deep, 64, 1e12)
    nested = {"token": "p", "label": "cat", "context": [[[[{"x": 1}]]]]}
    assert parse_feedback(json.dumps(nested).encode(), 64, 1e12) == ("p", "cat", None)


def test_a_deeply_nested_backend_answer_is_no_prediction() -> None:
    assert is_missing(prediction_of(b"[" * 100_000, ()))  # never RecursionError
