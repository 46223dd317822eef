"""The admin port lets no one in without the token: reading the table (it holds the salt and
the segments' user ids) and replacing it both need `Authorization: Bearer <token>`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import eventually
from tests.integration.router.harness import ADMIN_TOKEN, Harness

pytestmark = pytest.mark.integration

TABLE = {"version": 1, "salt": "s3cret-salt", "stable": {"backends": ["127.0.0.1:9"]},
         "overrides": {"segments": [{"name": "vip", "variant": "stable", "units": ["u-42"]}]}}


def put(h: Harness, document: dict[str, Any], token: str | None) -> tuple[int, Any]:
    status, data = h.admin("PUT", "/table", json.dumps(document).encode(), admin_token=token)
    return status, json.loads(data)


@pytest.mark.parametrize("token", [None, "", "wrong-" + "x" * 40, ADMIN_TOKEN + "x",
                                   ADMIN_TOKEN[:-1]])
def test_no_credential_or_a_wrong_one_is_refused(harness: Harness, token: str | None) -> None:
    assert put(harness, TABLE, ADMIN_TOKEN)[0] == 200
    status, data = harness.admin("GET", "/table", admin_token=token)
    assert status == 401
    assert b"s3cret-salt" not in data
    assert b"u-42" not in data
    assert put(harness, {**TABLE, "version": 2, "salt": "attacker"}, token)[0] == 401
    assert json.loads(harness.admin("GET", "/table")[1])["salt"] == "s3cret-salt"
    assert harness.metric("modelrouter_rejected_requests_total",
                          reason="admin_unauthorized") == 2


def test_the_right_credential_reads_and_writes(harness: Harness) -> None:
    assert put(harness, TABLE, ADMIN_TOKEN) == (200, {"version": 1})
    status, data = harness.admin("GET", "/table")
    assert status == 200
    assert json.loads(data)["salt"] == "s3cret-salt"


def test_health_and_metrics_need_no_credential(harness: Harness) -> None:
    for path in ("/healthz", "/metrics"):
        assert harness.admin("GET", path, admin_token=None)[0] == 200


def test_a_rotated_token_replaces_the_old_one(harness: Harness) -> None:
    new = "rotated-admin-token-" + "y" * 24
    harness.token_file.write_text(new)
    eventually(lambda: harness.admin("GET", "/table", admin_token=new)[0] in (200, 404),
               "the new token accepted", timeout=30)
    assert harness.admin("GET", "/table")[0] == 401  # the old one no longer is


def test_a_short_or_missing_token_file_fails_closed(harness: Harness) -> None:
    harness.token_file.write_text("short")
    eventually(lambda: harness.admin("GET", "/table", admin_token="short")[0] == 401,
               "a short token refused", timeout=30)
    harness.token_file.unlink()
    assert harness.admin("GET", "/table", admin_token="short")[0] == 401
    assert harness.admin("GET", "/table")[0] == 401


def test_a_router_that_follows_a_configmap_takes_no_table_from_clients() -> None:
    h = Harness(table_writes=False)
    try:
        status, data = put(h, {**TABLE, "version": 10**15}, ADMIN_TOKEN)
        assert status == 403
        assert "ConfigMap" in data["error"]
        assert h.admin("GET", "/table")[0] == 404  # nothing applied
    finally:
        h.close()
