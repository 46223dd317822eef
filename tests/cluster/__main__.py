"""`python -m tests.cluster {build,up,down,status}`: the local control plane from the shell."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from tests.cluster.build import ensure_binaries
from tests.cluster.controlplane import ControlPlane, install_crds, start

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__)
    parser.add_argument("command", choices=("build", "up", "down", "status", "install-crds"))
    parser.add_argument("--dir", type=Path, default=Path(".cluster"),
                        help="state, logs and kubeconfig (default: .cluster)")
    args = parser.parse_args(argv)
    workdir: Path = args.dir.resolve()
    if args.command == "build":
        began = time.monotonic()
        print(ensure_binaries())
        print(f"binaries ready in {time.monotonic() - began:.1f}s")
        return 0
    existing = ControlPlane.load(workdir)
    if args.command == "status":
        healthy = existing is not None and existing.healthy()
        print(f"{'running' if healthy else 'not running'}: {workdir / 'kubeconfig'}")
        return 0 if healthy else 1
    if args.command == "install-crds":
        if existing is None or not existing.healthy():
            print("the control plane is not running: make cluster-up", file=sys.stderr)
            return 1
        install_crds(existing.kubeconfig, CRD_DIR)
        print(f"CRDs from {CRD_DIR} installed")
        return 0
    if args.command == "down":
        if existing is not None:
            existing.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        print("control plane stopped")
        return 0
    if existing is not None and existing.healthy():
        print(f"already running: export KUBECONFIG={existing.kubeconfig}")
        return 0
    if existing is not None:
        existing.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    plane = start(workdir)
    print(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
