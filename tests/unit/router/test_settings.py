"""Every limit is a command-line setting with a default, carried in the settings objects."""

from __future__ import annotations

import pytest

from controller.router.limits import Limits
from controller.router.proxy import ProxySettings
from controller.router.settings import build_parser, settings_from

pytestmark = pytest.mark.unit


def test_limit_defaults_are_the_dataclass_defaults() -> None:
    settings = settings_from(build_parser().parse_args([]))
    assert settings.limits == Limits()
    assert settings.proxy == ProxySettings()


def test_every_limit_flag_reaches_its_setting() -> None:
    args = build_parser().parse_args([
        "--header-timeout", "2.5", "--max-connections", "7", "--max-json-depth", "9",
        "--max-stored-response-bytes", "1000", "--stream-buffer-bytes", "4096",
        "--max-body-bytes", "11", "--max-headers", "12", "--max-header-bytes", "13",
    ])
    settings = settings_from(args)
    assert settings.limits == Limits(max_body_bytes=11, max_headers=12, max_header_bytes=13,
                                     header_timeout_s=2.5, max_connections=7)
    assert settings.proxy.max_json_depth == 9
    assert settings.proxy.max_stored_response_bytes == 1000
    assert settings.proxy.stream_buffer_bytes == 4096


def test_every_new_flag_has_a_help_line() -> None:
    actions = {a.dest: a for a in build_parser()._actions}
    for dest in ("header_timeout", "max_connections", "max_json_depth",
                 "max_stored_response_bytes", "stream_buffer_bytes"):
        assert actions[dest].help
