"""`make demo`: apply an example ModelRollout to the local control plane and watch the operator.

The control plane is already up (`make cluster-up`). This runs the operator as a real process,
applies examples/canary-analysis.yaml, waits until the operator has observed it, and shows
`kubectl get mro`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.cluster.build import ensure_binaries

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "demo"


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run([str(ensure_binaries() / "kubectl"), f"--kubeconfig={kubeconfig}",
                             *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def wait_for_operator(kubeconfig: Path, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    jsonpath = "{.status.observedGeneration}"
    while time.monotonic() < deadline:
        observed = kubectl(kubeconfig, "get", "mro", name, "-n", NAMESPACE,
                           f"-o=jsonpath={jsonpath}", check=False)
        if observed.strip():
            return
        time.sleep(0.5)
    raise SystemExit(f"the operator did not observe {name} within {timeout:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, default=REPO / ".cluster" / "kubeconfig")
    args = parser.parse_args()
    kubeconfig: Path = args.kubeconfig.resolve()
    kubectl(kubeconfig, "create", "namespace", NAMESPACE, check=False)
    example = REPO / "examples" / "canary-analysis.yaml"
    log = kubeconfig.parent / "operator.log"
    print(f"starting the operator (log: {log})", flush=True)
    with log.open("w") as out:
        operator = subprocess.Popen([sys.executable, "-m", "controller"], stdout=out,
                                    stderr=subprocess.STDOUT,
                                    env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    try:
        print(kubectl(kubeconfig, "apply", "-n", NAMESPACE, "-f", str(example)), end="")
        wait_for_operator(kubeconfig, "fraud-detector", timeout=60)
        print("\n$ kubectl get mro -A")
        print(kubectl(kubeconfig, "get", "mro", "-A"))
        print("$ kubectl get mro fraud-detector -n demo -o jsonpath='{.status.conditions}'")
        print(kubectl(kubeconfig, "get", "mro", "fraud-detector", "-n", NAMESPACE,
                      "-o=jsonpath={range .status.conditions[*]}{.type}={.status} "
                      "({.reason}){'\\n'}{end}"))
    finally:
        operator.terminate()
        operator.wait(timeout=30)
    print(f"The control plane keeps running: export KUBECONFIG={kubeconfig}; "
          "`make cluster-down` stops it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
