"""End-to-end tests reuse the integration fixtures: the real control plane and its client."""

from tests.integration.conftest import api, kubeconfig

__all__ = ["api", "kubeconfig"]
