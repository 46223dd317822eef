"""Build helm (v3) from source through the Go module proxy, cached by version.

Like the control plane (tests/cluster/build.py), helm is not shipped by any registry our
machines reach, so `go install helm.sh/helm/v3/cmd/helm@<version>` builds it into
`~/.cache/modelrollout/helm/<version>/helm` (override the root with MODELROLLOUT_CACHE). A cold
build takes about 3 minutes on 2 cores; a warm call returns at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.cluster.build import cache_root

# The newest helm v3 whose go.mod (go 1.26.0) the local Go 1.26 toolchain builds.
HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3"


class HelmBuildError(RuntimeError):
    """helm could not be built; the message carries the exact command and its output."""


def helm_path(version: str = HELM_VERSION) -> Path:
    return cache_root() / "helm" / version / "helm"


def _log(message: str) -> None:
    print(f"[helm-build] {message}", file=sys.stderr, flush=True)


def _go_env(gobin: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["GOTOOLCHAIN"] = "local"
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    env["CGO_ENABLED"] = "0"
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HelmBuildError(f"$ {' '.join(args)}\nexit {result.returncode}\n"
                             f"{result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def kubernetes_minor(helm_go_mod: str) -> str:
    """Helm's Makefile stamps the Kubernetes version it was built against (client-go v0.N.x
    is Kubernetes 1.N) into `helm template` and `helm lint`; without it they assume 1.20."""
    found = re.search(r"^\s*k8s\.io/client-go v0\.(\d+)\.", helm_go_mod, re.M)
    if found is None:
        raise HelmBuildError("helm's go.mod names no k8s.io/client-go v0.N.x requirement")
    return found.group(1)


def ldflags(version: str, helm_go_mod: str) -> str:
    minor = kubernetes_minor(helm_go_mod)
    flags = ["-s", "-w", f"-X {HELM_MODULE}/internal/version.version={version}"]
    for package in ("pkg/lint/rules", "pkg/chartutil"):
        flags += [f"-X {HELM_MODULE}/{package}.k8sVersionMajor=1",
                  f"-X {HELM_MODULE}/{package}.k8sVersionMinor={minor}"]
    return " ".join(flags)


def ensure_helm(version: str = HELM_VERSION) -> Path:
    """Return the helm binary, building it when the cache has none. Raises HelmBuildError."""
    target = helm_path(version)
    if target.is_file():
        return target
    target.parent.parent.mkdir(parents=True, exist_ok=True)
    # One build at a time: parallel test sessions may race for the cache.
    with (target.parent.parent / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        return _build(version, target)


def _build(version: str, target: Path) -> Path:
    if shutil.which("go") is None:
        raise HelmBuildError("Go is required to build helm (go not on PATH)")
    _log(f"building helm {version} into {target.parent}; a cold build takes about 3 minutes")
    started = time.monotonic()
    staging = target.parent.with_name(target.parent.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="mro-helm-") as work:
        info = json.loads(_run(["go", "mod", "download", "-json", f"{HELM_MODULE}@{version}"],
                               Path(work), _go_env()))
        go_mod = Path(info["GoMod"]).read_text()
        _log(f"$ go install {HELM_MODULE}/cmd/helm@{version}")
        _run(["go", "install", "-trimpath", "-ldflags", ldflags(version, go_mod),
              f"{HELM_MODULE}/cmd/helm@{version}"], Path(work), _go_env(staging))
    if target.parent.exists():
        shutil.rmtree(target.parent)
    staging.replace(target.parent)
    _log(f"helm {version} built in {time.monotonic() - started:.0f}s")
    return target


if __name__ == "__main__":
    print(ensure_helm())
