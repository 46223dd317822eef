"""What only the istio router does, against a real VirtualService (published CRD) in the local
control plane. The contract it shares with gatewayAPI is in test_managed_routes.py."""

from __future__ import annotations

import pytest
from kubernetes import client

from controller.rollout.ref import RolloutRef
from controller.rollout.split import Mirror, TrafficSplit
from controller.traffic.base import RouterError
from controller.traffic.istio import VIRTUALSERVICE
from tests.integration.traffic.kube import gitops_apply
from tests.integration.traffic.routes import virtual_service, virtual_service_router

pytestmark = pytest.mark.integration


def test_a_legacy_mirror_field_is_a_router_error(traffic_crds: client.ApiClient,
                                                 rollout: RolloutRef) -> None:
    split = TrafficSplit("r1", "r2", 10, mirrors=(Mirror("candidate", "r2", 5),))
    legacy = virtual_service(rollout.namespace)
    legacy["spec"]["http"][1].pop("mirrors")
    legacy["spec"]["http"][1]["mirror"] = {"host": "audit"}
    gitops_apply(traffic_crds, VIRTUALSERVICE, legacy)
    with pytest.raises(RouterError, match="legacy `mirror`"):
        virtual_service_router(traffic_crds).apply(rollout, split)
