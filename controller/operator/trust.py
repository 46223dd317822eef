"""The Prometheus CA bundle a rollout names, read from its ConfigMap for the analysis."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from controller.api.spec import ModelRolloutSpec
from controller.operator.kube import Kube
from controller.providers.prometheus import TrustedSource

MAX_BUNDLE_BYTES = 256 * 1024


def with_trusted_prometheus(spec: ModelRolloutSpec, namespace: str, kube: Kube
                            ) -> ModelRolloutSpec:
    """The spec with spec.analysis.prometheus's caBundle read (or why it could not be):
    a problem becomes a provider error of every look, under the onProviderError policy."""
    analysis = spec.analysis
    if analysis is None or analysis.prometheus.ca_bundle is None:
        return spec
    ref = analysis.prometheus.ca_bundle.config_map_key_ref
    pem, problem = None, None
    try:
        config_map = kube.read_config_map(namespace, ref.name)
    except ApiException as error:
        config_map, problem = None, f"cannot read it: {error.status} {error.reason}"
    if config_map is None:
        problem = problem or "no such ConfigMap"
    else:
        pem = (config_map.data or {}).get(ref.key)
        if pem is None:
            problem = "no such key"
        elif len(pem) > MAX_BUNDLE_BYTES:
            pem, problem = None, f"larger than {MAX_BUNDLE_BYTES} bytes"
    source = TrustedSource.model_validate(
        analysis.prometheus.model_dump() | {"ca_pem": pem, "ca_problem": problem})
    return spec.model_copy(update={"analysis": analysis.model_copy(
        update={"prometheus": source})})
