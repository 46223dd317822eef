"""The model server's wire protocol as pure functions: routes, validation, bodies."""

from __future__ import annotations

import json

import pytest

from controller.modelserver.__main__ import build_parser
from controller.modelserver.protocol import (
    MAX_INSTANCES,
    Prediction,
    RequestError,
    Route,
    check_body_size,
    check_model_name,
    parse_instances,
    predictions_body,
    route,
)
from controller.modelserver.settings import default_model_path

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("path", "expected"), [
    ("/healthz", Route("healthz")),
    ("/v1/models", Route("models")),
    ("/v1/models/digits", Route("model", "digits")),
    ("/v1/models/digits:predict", Route("predict", "digits")),
    ("/v1/models/digits:predict?trace=1", Route("predict", "digits")),
    ("/v1/models/a/b:predict", None),
    ("/v2/models/digits/infer", None),
    ("/", None),
])
def test_route(path: str, expected: Route | None) -> None:
    assert route(path) == expected


def test_parse_instances_accepts_ints_and_floats() -> None:
    body = json.dumps({"instances": [[1, 2.5, 0], [0, 0, -3e2]]}).encode()
    assert parse_instances(body, 3) == [[1.0, 2.5, 0.0], [0.0, 0.0, -300.0]]


@pytest.mark.parametrize(("body", "words"), [
    (b'{"instances": [[1, 2', "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[[1, 2, 3]]", '{"instances"'),
    (b'{"inputs": [[1, 2, 3]]}', '{"instances"'),
    (b'{"instances": []}', "non-empty list"),
    (b'{"instances": "1,2,3"}', "non-empty list"),
    (b'{"instances": [[1, 2, 3], 4]}', "instances[1]: expected a list of 3 numbers, got int"),
    (b'{"instances": [[1, 2]]}', "instances[0]: expected 3 features, got 2"),
    (b'{"instances": [[1, 2, 3, 4]]}', "expected 3 features, got 4"),
    (b'{"instances": [[1, "2", 3]]}', 'instances[0][1]: expected a number, got "2"'),
    (b'{"instances": [[1, true, 3]]}', "instances[0][1]: expected a number, got true"),
    (b'{"instances": [[1, null, 3]]}', "expected a number, got null"),
    (b'{"instances": [[1, NaN, 3]]}', "instances[0][1]: expected a finite number"),
    (b'{"instances": [[1, 2, Infinity]]}', "expected a finite number"),
])
def test_malformed_requests_name_the_problem(body: bytes, words: str) -> None:
    with pytest.raises(RequestError) as raised:
        parse_instances(body, 3)
    assert raised.value.status == 400
    assert words in raised.value.message


def test_instance_count_is_bounded() -> None:
    body = json.dumps({"instances": [[0]] * (MAX_INSTANCES + 1)}).encode()
    with pytest.raises(RequestError, match=f"at most {MAX_INSTANCES}"):
        parse_instances(body, 1)


@pytest.mark.parametrize(("header", "status"), [
    (None, 411), ("abc", 400), ("-1", 400), ("1025", 413),
])
def test_body_size_is_required_and_bounded(header: str | None, status: int) -> None:
    with pytest.raises(RequestError) as raised:
        check_body_size(header, 1024)
    assert raised.value.status == status


def test_body_size_within_limit() -> None:
    assert check_body_size("1024", 1024) == 1024
    assert check_body_size("0", 1024) == 0


def test_unknown_model_is_404_naming_the_served_one() -> None:
    check_model_name("digits", "digits")
    with pytest.raises(RequestError) as raised:
        check_model_name("other", "digits")
    assert raised.value.status == 404
    assert "'digits'" in raised.value.message


def test_predictions_body_is_kserve_v1() -> None:
    body = predictions_body([Prediction(3, 0.9), Prediction("cat", None)])
    assert body == {"predictions": [{"label": 3, "score": 0.9}, {"label": "cat", "score": None}]}


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),
    ({"MODEL_PATH": "/m/v1.joblib"}, "/m/v1.joblib"),
    ({"MODEL_URI": "file:///models/v7.joblib"}, "/models/v7.joblib"),
    ({"MODEL_URI": "s3://bucket/v7.joblib"}, None),
    ({"MODEL_PATH": "/a.joblib", "MODEL_URI": "file:///b.joblib"}, "/a.joblib"),
])
def test_model_path_from_environment(env: dict[str, str], expected: str | None) -> None:
    assert default_model_path(env) == expected


def test_cli_defaults_from_environment() -> None:
    args = build_parser({"MODEL_PATH": "/m.joblib", "MODEL_NAME": "digits", "PORT": "9000"})
    parsed = args.parse_args([])
    assert (str(parsed.model), parsed.name, parsed.port) == ("/m.joblib", "digits", 9000)


def test_cli_requires_a_model_without_environment() -> None:
    with pytest.raises(SystemExit):
        build_parser({}).parse_args([])
