"""A pod spec as copied from an existing Deployment: every common core/v1 container field."""

from __future__ import annotations

from typing import Any

FULL_CONTAINER: dict[str, Any] = {
    "name": "server", "image": "registry.example/model:1.2", "imagePullPolicy": "IfNotPresent",
    "args": ["--port", "8080"],
    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
              {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
    "env": [{"name": "MODEL_NAME", "value": "fraud"},
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "model-secrets",
                                                               "key": "api-key"}}}],
    "envFrom": [{"secretRef": {"name": "model-env", "optional": True}}],
    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                  "limits": {"memory": "1Gi"}},
    "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"},
                       "periodSeconds": 5, "failureThreshold": 3},
    "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10},
    "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "failureThreshold": 30},
    "volumeMounts": [{"name": "weights", "mountPath": "/models", "readOnly": True}],
    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}},
}
FULL_POD_SPEC: dict[str, Any] = {
    "containers": [FULL_CONTAINER],
    "volumes": [{"name": "weights", "emptyDir": {"sizeLimit": "1Gi"}}],
    "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
    "securityContext": {"fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
}
