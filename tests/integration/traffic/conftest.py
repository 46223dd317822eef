"""The published HTTPRoute and VirtualService CRDs, installed into the real control plane; the
rollout, and the router under test with its object as Git holds it.

They are fetched at test time through the Go module proxy (`go mod download`, cached in the Go
module cache), never committed: the upstream YAML is not ours to vendor.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.rollout.ref import RolloutRef
from controller.traffic.gatewayapi import HTTPROUTE
from controller.traffic.istio import VIRTUALSERVICE
from controller.traffic.managed import Resource
from tests.cluster.controlplane import install_crds
from tests.helpers import eventually
from tests.integration.traffic.kube import gitops_apply
from tests.integration.traffic.routes import PORT, ROUTES, Routes

# v1.6.x is the newest line the local Go toolchain can download (v1.7 needs go >= 1.27);
# RequestMirror `percent` has been standard since v1.3.
GATEWAY_API = ("sigs.k8s.io/gateway-api", "v1.6.3")
ISTIO_API = ("istio.io/api", "v1.32.0")  # `mirrors` (Istio >= 1.19) and networking/v1
HTTPROUTE_CRD = "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"
ISTIO_CRDS = "kubernetes/customresourcedefinitions.gen.yaml"
VIRTUALSERVICE_CRD = "virtualservices.networking.istio.io"


def module_dir(module: str, version: str, workdir: Path) -> Path:
    """Download a Go module (or find it in the module cache) and return its directory."""
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    result = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                            cwd=workdir, env=env, capture_output=True, text=True, check=False)
    try:
        info = json.loads(result.stdout)
    except ValueError:
        info = {}
    if result.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {module}@{version} failed: "
                           f"{info.get('Error') or result.stderr.strip()}")
    return Path(info["Dir"])


def document_named(path: Path, name: str) -> dict[str, Any]:
    for document in yaml.safe_load_all(path.read_text()):
        if isinstance(document, dict) and document.get("metadata", {}).get("name") == name:
            return document
    raise LookupError(f"no document named {name} in {path}")


def served(api: client.ApiClient, resource: Resource) -> bool:
    try:
        client.CustomObjectsApi(api).list_namespaced_custom_object(
            resource.group, resource.version, "default", resource.plural)
    except ApiException:
        return False
    return True


@pytest.fixture(scope="session")
def traffic_crds(api: client.ApiClient, kubeconfig: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> client.ApiClient:
    """Install the HTTPRoute CRD (no CRD dependencies) and only the VirtualService CRD out of
    Istio's ~1 MB bundle; return the API client once both kinds are served."""
    workdir = tmp_path_factory.mktemp("traffic-crds")
    gateway = module_dir(*GATEWAY_API, workdir)
    istio = module_dir(*ISTIO_API, workdir)
    crds = workdir / "crds"
    crds.mkdir()
    (crds / "httproutes.yaml").write_text((gateway / HTTPROUTE_CRD).read_text())
    virtual_service = document_named(istio / ISTIO_CRDS, VIRTUALSERVICE_CRD)
    (crds / "virtualservices.yaml").write_text(yaml.safe_dump(virtual_service))
    install_crds(kubeconfig, crds)
    for resource in (HTTPROUTE, VIRTUALSERVICE):
        eventually(partial(served, api, resource), f"{resource.kind} served", timeout=30)
    return api


@pytest.fixture
def rollout(namespace: str) -> RolloutRef:
    return RolloutRef(name="fraud", namespace=namespace, uid="uid-1", port=PORT)


@pytest.fixture(params=ROUTES, ids=[routes.name for routes in ROUTES])
def routes(request: pytest.FixtureRequest) -> Routes:
    """Each router in turn, for the tests of the contract both keep."""
    chosen: Routes = request.param
    return chosen


@pytest.fixture
def applied(traffic_crds: client.ApiClient, namespace: str, routes: Routes) -> dict[str, Any]:
    """The router's object, applied as the GitOps tool would, and read back."""
    gitops_apply(traffic_crds, routes.resource, routes.manifest(namespace))
    return routes.get(traffic_crds, namespace)
