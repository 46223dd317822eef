"""Router settings of the chart (router.unitBuckets): rendered into the variable the
operator reads, and bounded by values.schema.json as the operator bounds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.contract.metrics import DEFAULT_UNIT_BUCKETS, MAX_UNIT_BUCKETS
from controller.operator.settings import OperatorSettings
from tests.chart import CHART, documents, helm_run, one, render, values_file
from tests.cluster.helm import ensure_helm

pytestmark = pytest.mark.unit


@pytest.fixture(scope="session")
def helm() -> Path:
    return ensure_helm()


def operator_env(helm: Path, values: dict[str, object]) -> dict[str, str]:
    container = one(documents(render(helm, values)), "Deployment")["spec"]["template"][
        "spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


@pytest.mark.parametrize("buckets", [2, 32, MAX_UNIT_BUCKETS])
def test_the_router_unit_buckets_reach_the_operator_as_it_reads_them(helm: Path,
                                                                     buckets: int) -> None:
    env = operator_env(helm, {"router": {"unitBuckets": buckets}})
    assert env["MODELROLLOUT_ROUTER_UNIT_BUCKETS"] == str(buckets)
    assert OperatorSettings.from_env(env).router.unit_buckets == buckets


def test_unset_unit_buckets_leave_the_operators_default(helm: Path) -> None:
    env = operator_env(helm, {})
    assert "MODELROLLOUT_ROUTER_UNIT_BUCKETS" not in env
    assert OperatorSettings.from_env(env).router.unit_buckets == DEFAULT_UNIT_BUCKETS


@pytest.mark.parametrize("buckets", [0, 1, MAX_UNIT_BUCKETS + 1, "16", 2.5])
def test_schema_rejects_unit_buckets_the_operator_would_refuse(helm: Path, buckets: object,
                                                               tmp_path: Path) -> None:
    values = {"router": {"unitBuckets": buckets}}
    result = helm_run(helm, "template", "x", str(CHART), "--values",
                      str(values_file(values, tmp_path)))
    assert result.returncode != 0, f"accepted {values}"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert "unitBuckets" in result.stderr, result.stderr
