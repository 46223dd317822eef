"""End-to-end tests reuse the integration fixtures: the real control plane and its client, and
the upstream HTTPRoute/VirtualService CRDs."""

from tests.integration.conftest import api, kubeconfig
from tests.integration.traffic.conftest import traffic_crds

__all__ = ["api", "kubeconfig", "traffic_crds"]
