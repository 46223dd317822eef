"""The builtin router's routing table, as a pure function of the split."""

from __future__ import annotations

import json

import pytest

from controller.api.routing import BuiltinRouter
from controller.contract.metrics import DEFAULT_UNIT_BUCKETS
from controller.contract.table import TableError, parse_table, table_json
from controller.operator.settings import BuiltinRouterSettings
from controller.rollout.ref import RolloutRef
from controller.rollout.split import Faults, Mirror, TrafficSplit
from controller.router.settings import build_parser
from controller.traffic.builtin import routing_table
from controller.traffic.builtin_children import admin_secret, router_manifests

pytestmark = pytest.mark.unit

ROLLOUT = RolloutRef(name="fraud", namespace="ml", uid="u-1", port=8080)


def test_stable_only_table() -> None:
    table = routing_table(ROLLOUT, BuiltinRouter(), TrafficSplit("aaa"), version=3)
    assert json.loads(table_json(table)) == {
        "version": 3, "salt": "ml/fraud", "shadows": [],
        "stable": {"backends": ["fraud-stable.ml.svc:8080"], "model": "aaa",
                   "faults": {"fractionBp": 0, "addedLatencyMs": 0, "corruptPrediction": False}},
        "sticky": {}, "overrides": {"segments": []}, "experiment": "ml/fraud", "window": ""}


def test_each_release_draws_fresh_canary_users_unless_kept() -> None:
    split = TrafficSplit("aaa", "bbb", 25, window="bbb/step-1")
    table = routing_table(ROLLOUT, BuiltinRouter(), split, 1)
    assert (table.salt, table.window) == ("ml/fraud/bbb", "bbb/step-1")
    following = routing_table(ROLLOUT, BuiltinRouter(), TrafficSplit("bbb", "ccc", 25), 2)
    assert following.salt == "ml/fraud/ccc"
    kept = BuiltinRouter(keep_units_across_releases=True)
    assert routing_table(ROLLOUT, kept, split, 1).salt == "ml/fraud"
    assert routing_table(ROLLOUT, BuiltinRouter(salt="exp-7"), split, 1).salt == "exp-7"


def test_candidate_weight_mirror_and_faults_in_basis_points() -> None:
    split = TrafficSplit("aaa", "bbb", 25, (Mirror("candidate", "bbb", 10),),
                         Faults(fraction_basis_points=3000, error_status=503))
    candidate = json.loads(table_json(routing_table(ROLLOUT, BuiltinRouter(), split, 1)))[
        "candidate"]
    assert candidate["backends"] == ["fraud-candidate.ml.svc:8080"]
    assert (candidate["weightBp"], candidate["mirrorBp"]) == (2500, 1000)
    assert candidate["faults"] == {"fractionBp": 3000, "addedLatencyMs": 0, "errorStatus": 503,
                                   "corruptPrediction": False}


def test_shadows_sticky_overrides_and_prediction_reach_the_router() -> None:
    config = BuiltinRouter.model_validate({
        "unit": {"header": "x-user-id"}, "salt": "exp-7",
        "prediction": {"path": "predictions[0].label"},
        "overrides": {"header": "x-force-variant",
                      "segments": [{"name": "beta", "variant": "candidate", "units": ["u1"]}]},
    })
    split = TrafficSplit("aaa", "bbb", 0, (Mirror("challenger", "ccc", 10),))
    table = json.loads(table_json(routing_table(ROLLOUT, config, split, 1)))
    assert table["salt"] == "exp-7"
    assert table["sticky"] == {"header": "x-user-id"}
    assert table["overrides"]["segments"][0]["units"] == ["u1"]
    assert table["shadows"] == [{"backends": ["fraud-sh-challenger.ml.svc:8080"], "model": "ccc",
                                 "name": "challenger", "mirrorBp": 1000,
                                 "faults": {"fractionBp": 0, "addedLatencyMs": 0,
                                            "corruptPrediction": False},
                                 "prediction": {"path": "predictions[0].label", "mode": "exact",
                                                "tolerancePpm": 0}}]
    assert parse_table(table).version == 1  # the router accepts what the operator writes


def test_a_segment_pinned_to_the_candidate_waits_for_one() -> None:
    config = BuiltinRouter.model_validate({"overrides": {"segments": [
        {"name": "beta", "variant": "candidate", "units": ["u1"]},
        {"name": "qa", "variant": "stable", "units": ["u2"]}]}})
    alone = json.loads(table_json(routing_table(ROLLOUT, config, TrafficSplit("aaa"), 1)))
    assert [s["name"] for s in alone["overrides"]["segments"]] == ["qa"]
    assert parse_table(alone).version == 1  # the router takes it: ab-sticky.yaml's first table
    rolling = json.loads(table_json(routing_table(ROLLOUT, config,
                                                  TrafficSplit("aaa", "bbb", 50), 2)))
    assert [s["name"] for s in rolling["overrides"]["segments"]] == ["beta", "qa"]


def test_a_table_the_router_would_refuse_fails_at_the_operator() -> None:
    config = BuiltinRouter.model_validate({"overrides": {"segments": [
        {"name": "beta", "variant": "nobody", "units": ["u1"]}]}})
    with pytest.raises(TableError, match="unknown variant"):
        routing_table(ROLLOUT, config, TrafficSplit("aaa"), 1)


def test_clients_reach_only_the_serving_port() -> None:
    settings = BuiltinRouterSettings(admin_peers=({"ipBlock": {"cidr": "10.0.0.0/8"}},))
    deployment, clients, admin, policy = router_manifests(ROLLOUT, BuiltinRouter(), settings)
    assert [p["name"] for p in clients["spec"]["ports"]] == ["http"]
    assert [p["name"] for p in admin["spec"]["ports"]] == ["admin"]
    assert admin["metadata"]["labels"]["rollouts.mlops.dev/role"] == "router-admin"
    serving, admin_rule = policy["spec"]["ingress"]
    assert "from" not in serving
    assert admin_rule["from"] == [{"ipBlock": {"cidr": "10.0.0.0/8"}}]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--admin-token-file" in container["args"]


@pytest.mark.parametrize("buckets", [None, 2, 64])
def test_the_router_gets_the_operators_unit_bucket_count(buckets: int | None) -> None:
    settings = BuiltinRouterSettings() if buckets is None else BuiltinRouterSettings(
        unit_buckets=buckets)
    deployment = router_manifests(ROLLOUT, BuiltinRouter(), settings)[0]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    value = args[args.index("--unit-buckets") + 1]
    assert value == str(buckets or DEFAULT_UNIT_BUCKETS)
    # the router reads it as the operator wrote it
    assert build_parser().parse_args(args).unit_buckets == int(value)


def test_each_admin_secret_has_its_own_random_token() -> None:
    first, second = admin_secret(ROLLOUT), admin_secret(ROLLOUT)
    assert len(first["stringData"]["token"]) >= 32
    assert first["stringData"]["token"] != second["stringData"]["token"]


@pytest.mark.parametrize(("faults", "wire"), [
    (Faults(fraction_basis_points=5000, error_status=500, segment="beta"), {"segment": "beta"}),
    (Faults(fraction_basis_points=5000, error_status=500, header=("X-Cohort", "eu")),
     {"header": {"name": "x-cohort", "value": "eu"}}),
    (Faults(fraction_basis_points=5000, error_status=500, hashed_fraction_basis_points=1200),
     {"hashedFractionBp": 1200}),
])
def test_a_chaos_selector_reaches_the_routing_table(faults: Faults, wire: dict[str, object]
                                                     ) -> None:
    config = BuiltinRouter.model_validate({"unit": {"header": "x-user-id"}, "overrides": {
        "segments": [{"name": "beta", "variant": "candidate", "units": ["u1"]}]}})
    split = TrafficSplit("aaa", "bbb", 25, candidate_faults=faults)
    table = routing_table(ROLLOUT, config, split, 1)
    candidate = json.loads(table_json(table))["candidate"]
    assert candidate["faults"] == {"fractionBp": 5000, "addedLatencyMs": 0, "errorStatus": 500,
                                   "corruptPrediction": False, **wire}
    assert parse_table(table_json(table)) == table


def test_a_chaos_segment_the_router_does_not_know_is_a_table_error() -> None:
    split = TrafficSplit("aaa", "bbb", 25, candidate_faults=Faults(
        fraction_basis_points=5000, error_status=500, segment="ghost"))
    with pytest.raises(TableError, match="segment"):
        routing_table(ROLLOUT, BuiltinRouter(), split, 1)


def test_canary_steps_name_their_serving_window() -> None:
    from controller.api.spec import ModelRolloutSpec
    from controller.contract.table import serving_window
    from controller.rollout.steps import canary_split

    spec = ModelRolloutSpec.model_validate({
        "template": {"spec": {"containers": [{"name": "server", "image": "model:2"}]}},
        "port": 8080, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"setWeight": 50}]}}})
    first = canary_split(spec, "aaa", "bbb", 0, True, ())
    second = canary_split(spec, "aaa", "bbb", 1, True, ())
    assert (first.window, second.window) == ("bbb/step-0", "bbb/step-1")
    assert second.window == serving_window("bbb", 1)  # what the analysis filters labels by
    assert routing_table(ROLLOUT, BuiltinRouter(), second, 1).window == "bbb/step-1"
