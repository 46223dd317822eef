"""The Kubernetes shell of the operator: kopf handlers, the reconciler, API I/O, child manifests
and the operator's own metrics. The core (rollout, analysis, api, contract) never imports it."""
