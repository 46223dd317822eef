"""How the operator scales: N ModelRollouts on the real local control plane.

For each N it creates N rollouts, waits until all are Healthy, then changes the model of a
sample of them and measures the time from the spec change to the routing-table update the
builtin router would apply (the ConfigMap write, seen through a watch). It reports the
operator's peak RSS and p50/p99 latency, and prints one JSON line at the end.

Each size gets a fresh operator and a fresh control plane (or, with --kubeconfig, its
namespace is deleted before the next size), so its figures belong to N rollouts alone.

    python bench/reconcile_scale.py --sizes 100,500,1000 [--kubeconfig .cluster/kubeconfig]

Goal (issue 3): 1,000 rollouts under 300 MB, p99 under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config, watch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.api import GROUP, PLURAL, VERSION  # noqa: E402
from tests.cluster.controlplane import install_crds, start  # noqa: E402


def rollout(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelRollout", "metadata": {"name": name},
        "spec": {"replicas": 1, "port": 8080,
                 "template": {"spec": {"containers": [{"name": "m", "image": image}]}},
                 "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}},
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class TableWatch:
    """First time each rollout's routing table carries a candidate, by the watch's clock."""

    def __init__(self, core: client.CoreV1Api, namespace: str) -> None:
        self.first_candidate: dict[str, float] = {}
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(core, namespace), daemon=True)
        self._thread.start()

    def _run(self, core: client.CoreV1Api, namespace: str) -> None:
        try:
            for event in self._watch.stream(core.list_namespaced_config_map, namespace,
                                            timeout_seconds=3600):
                data = event["object"].data or {}
                name = event["object"].metadata.name.removesuffix("-routing")
                if "table.json" in data and '"candidate"' in data["table.json"]:
                    self.first_candidate.setdefault(name, time.monotonic())
        except Exception:  # the connection closes when the bench stops watching
            return

    def stop(self) -> None:
        self._watch.stop()


def wait_healthy(objects: client.CustomObjectsApi, namespace: str, count: int,
                 timeout: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        listed = objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        assert isinstance(listed, dict)
        items: list[dict[str, Any]] = listed["items"]
        healthy = sum(1 for i in items if (i.get("status") or {}).get("phase") == "Healthy")
        if healthy >= count:
            return
        time.sleep(1.0)
    raise TimeoutError(f"{namespace}: not all {count} rollouts Healthy within {timeout:.0f}s")


def measure(api: client.ApiClient, size: int, sample: int, operator_pid: int) -> dict[str, Any]:
    namespace = f"bench-{size}-{int(time.time())}"
    core, objects = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    created = time.monotonic()
    for index in range(size):
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                rollout(f"m{index}", "model:1"))
    wait_healthy(objects, namespace, size, timeout=60 + size * 1.0)
    all_healthy = time.monotonic() - created
    tables = TableWatch(core, namespace)
    time.sleep(2.0)  # let the watch connect before the clock starts (a bench, not a test)
    changed: dict[str, float] = {}
    step = max(size // sample, 1)
    for index in range(0, size, step)[:sample]:
        name = f"m{index}"
        patch = {"spec": {"template": rollout(name, "model:2")["spec"]["template"]}}
        changed[name] = time.monotonic()
        objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)
        time.sleep(0.05)  # spread the changes: latency, not a thundering herd
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(tables.first_candidate.keys() & changed) < len(
            changed):
        time.sleep(0.2)
    tables.stop()
    latencies = sorted(tables.first_candidate[n] - t for n, t in changed.items()
                       if n in tables.first_candidate)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "namespace": namespace, "rollouts": size, "sampled_changes": len(changed),
        "updated": len(latencies),
        "seconds_to_all_healthy": round(all_healthy, 1),
        "p50_seconds": round(quantiles[49], 3), "p99_seconds": round(quantiles[98], 3),
        "operator_peak_rss_mb": round(peak_rss_mb(operator_pid), 1),
    }


def delete_namespace(api: client.ApiClient, namespace: str, timeout: float) -> None:
    core = client.CoreV1Api(api)
    core.delete_namespace(namespace)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = [n.metadata.name for n in core.list_namespace().items if n.metadata]
        if namespace not in names:
            return
        time.sleep(1.0)
    raise TimeoutError(f"namespace {namespace} still there after {timeout:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument("--sample", type=int, default=100, help="spec changes per size")
    parser.add_argument("--kubeconfig", type=Path, help="reuse a running control plane")
    args = parser.parse_args()
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # loopback, self-signed
    workdir = Path(tempfile.mkdtemp(prefix="mro-bench-"))
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        plane = None
        if args.kubeconfig is None:
            plane = start(workdir / f"cluster-{size}")
            kubeconfig = plane.kubeconfig
        else:
            kubeconfig = args.kubeconfig.resolve()
        install_crds(kubeconfig, REPO / "crds")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        log = (workdir / f"operator-{size}.log").open("w")
        operator = subprocess.Popen([sys.executable, "-m", "controller"], cwd=REPO,
                                    env={**os.environ, "KUBECONFIG": str(kubeconfig)},
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            result = measure(api, size, min(args.sample, size), operator.pid)
            if plane is None:  # the operator must still run to release the finalizers
                delete_namespace(api, result.pop("namespace"), timeout=120 + size * 0.5)
            else:
                result.pop("namespace")
        finally:
            operator.terminate()
            operator.wait(timeout=60)
            if plane is not None:
                plane.stop()
        print(json.dumps(result), flush=True, file=sys.stderr)
        results.append(result)
    largest = results[-1]
    print(json.dumps({
        "bench": "reconcile_scale", "results": results,
        "goal_rss_under_300mb": largest["operator_peak_rss_mb"] < 300,
        "goal_p99_under_1s": largest["p99_seconds"] < 1.0,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
