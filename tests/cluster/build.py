"""Build kube-apiserver, kube-controller-manager, kube-scheduler, etcd and kwok from source.

No registry reachable from our machines ships these binaries, so we build them through the Go
module proxy and cache them by version outside the repository. A cold build takes 10-25 minutes on
2 cores; a warm start finds the cached binaries and returns at once.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.8"
KWOK_VERSION = "v0.7.0"

# kubectl too: the machines carry no kubectl of a matching, supported version.
KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
ALL_BINARIES = (*KUBE_COMMANDS, "etcd", "kwok")


@dataclass(frozen=True)
class Versions:
    kubernetes: str = KUBERNETES_VERSION
    etcd: str = ETCD_VERSION
    kwok: str = KWOK_VERSION

    @property
    def cache_key(self) -> str:
        return f"k8s-{self.kubernetes}_etcd-{self.etcd}_kwok-{self.kwok}"


def cache_root() -> Path:
    base = os.environ.get("MODELROLLOUT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "modelrollout"
    )
    return Path(base)


def bin_dir(versions: Versions = Versions()) -> Path:
    return cache_root() / "controlplane" / versions.cache_key / "bin"


def _log(message: str) -> None:
    print(f"[controlplane-build] {message}", file=sys.stderr, flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOTOOLCHAIN", "local")
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def _run(args: list[str], cwd: Path) -> None:
    _log("$ " + " ".join(args))
    subprocess.run(args, cwd=cwd, env=_go_env(), check=True)


def _go_output(args: list[str], cwd: Path) -> str:
    return subprocess.run(
        args, cwd=cwd, env=_go_env(), check=True, capture_output=True, text=True
    ).stdout


def _staging_modules(kubernetes_go_mod: str) -> list[str]:
    """Module paths that k8s.io/kubernetes maps to ./staging (the set changes per release)."""
    pattern = r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/"
    return sorted(set(re.findall(pattern, kubernetes_go_mod, re.M)))


def _godebug_lines(go_mod: str) -> list[str]:
    return re.findall(r"^godebug .*$", go_mod, re.M)


def _version_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return "-s -w " + " ".join(flags)


def _build_kubernetes(version: str, work: Path, out: Path, commands: tuple[str, ...]) -> None:
    info = _go_output(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"], work)
    go_mod_path = re.search(r'"GoMod":\s*"([^"]+)"', info)
    if go_mod_path is None:
        raise RuntimeError(f"go mod download gave no GoMod for k8s.io/kubernetes@{version}")
    upstream = Path(go_mod_path.group(1)).read_text()
    staging_version = "v0." + version.lstrip("v").split(".", 1)[1]
    replaces = "\n".join(f"\t{m} => {m} {staging_version}" for m in _staging_modules(upstream))
    go_line = re.search(r"^go (\S+)$", upstream, re.M)
    (work / "go.mod").write_text(
        "module modelrollout.local/controlplane\n\n"
        f"go {go_line.group(1) if go_line else '1.26.0'}\n\n"
        + "\n".join(_godebug_lines(upstream))
        + f"\n\nreplace (\n{replaces}\n)\n"
    )
    packages = [f"k8s.io/kubernetes/cmd/{c}" for c in commands]
    _run(["go", "get", *(f"{p}@{version}" for p in packages)], work)
    for command, package in zip(commands, packages, strict=True):
        _log(f"building {command} {version} (the slowest part: several minutes each)")
        _run(["go", "build", "-trimpath", "-ldflags", _version_ldflags(version),
              "-o", str(out / command), package], work)


def _build_etcd(version: str, work: Path, out: Path, _commands: tuple[str, ...]) -> None:
    (work / "go.mod").write_text("module modelrollout.local/etcd\n\ngo 1.26.0\n")
    (work / "main.go").write_text(
        "package main\n\nimport (\n\t\"os\"\n\n\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\n"
        "func main() { etcdmain.Main(os.Args) }\n"
    )
    _run(["go", "get", f"go.etcd.io/etcd/server/v3@{version}"], work)
    _log(f"building etcd {version}")
    _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"), "."], work)


def _build_kwok(version: str, work: Path, out: Path, _commands: tuple[str, ...]) -> None:
    env = _go_env() | {"GOBIN": str(out)}
    _log(f"building kwok {version}")
    subprocess.run(["go", "install", "-trimpath", "-ldflags", "-s -w",
                    f"sigs.k8s.io/kwok/cmd/kwok@{version}"], cwd=work, env=env, check=True)


def ensure_binaries(versions: Versions = Versions()) -> Path:
    """Return the folder with all control-plane binaries, building what is missing."""
    target = bin_dir(versions)
    if all((target / b).is_file() for b in ALL_BINARIES):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # One build at a time: `make cluster-up` and a test session may race for the cache.
    with (target.parent / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_missing(versions, target)


def _build_missing(versions: Versions, target: Path) -> Path:
    missing = [b for b in ALL_BINARIES if not (target / b).is_file()]
    if not missing:
        return target
    if shutil.which("go") is None:
        raise RuntimeError("Go is required to build the local control plane (go not on PATH)")
    _log(f"building {', '.join(missing)} into {target}; a cold build takes 10-25 minutes")
    started = time.monotonic()
    staging = target.parent / "bin.partial"
    staging.mkdir(parents=True, exist_ok=True)
    for name in ALL_BINARIES:
        if (target / name).is_file():
            shutil.copy2(target / name, staging / name)
    builders = (
        (_build_kubernetes, versions.kubernetes, KUBE_COMMANDS),
        (_build_etcd, versions.etcd, ("etcd",)),
        (_build_kwok, versions.kwok, ("kwok",)),
    )
    for builder, version, commands in builders:
        wanted = tuple(c for c in commands if not (staging / c).is_file())
        if not wanted:
            continue
        with tempfile.TemporaryDirectory(prefix="mro-build-") as work:
            builder(version, Path(work), staging, wanted)
    if target.exists():
        _merge(staging, target)
    else:
        staging.replace(target)
    _log(f"control plane built in {time.monotonic() - started:.0f}s")
    return target


def _merge(staging: Path, target: Path) -> None:
    for item in staging.iterdir():
        item.replace(target / item.name)
    staging.rmdir()


if __name__ == "__main__":
    print(ensure_binaries())
