"""Time to rollback and to promotion, with every part real: control plane, operator, model
router, Prometheus (1 s scrapes), model servers and user traffic.

Bad: a candidate at 10% live starts failing (a chaos step: 30% of its answers are 500s); we
measure the seconds from its first bad response to its weight reaching 0, and how many
requests it served meanwhile. Good: a healthy candidate's seconds from the spec change to
promotion. One JSON line at the end.

    python bench/time_to_rollback.py [--kubeconfig .cluster/kubeconfig] [--rate 50]

Goal (issue 6): at most 15 s to rollback with a 1 s scrape interval (Flagger's defaults need
5 x 60 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.api import GROUP, PLURAL, VERSION  # noqa: E402
from examples.demo.stack import NAME, NAMESPACE, Stack, template  # noqa: E402
from examples.demo.traffic import TrafficGenerator  # noqa: E402
from tests.cluster.controlplane import install_crds, start  # noqa: E402

CHAOS: dict[str, Any] = {
    "chaos": {"fractionBasisPoints": 3000, "errorStatus": 500, "durationSeconds": 600}}
GOOD: list[dict[str, Any]] = [
    {"setWeight": 10}, {"analysis": {"minSamples": 200}}, {"setWeight": 100}]


def rollout(prometheus: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelRollout",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "replicas": 1, "port": 8080, "template": template("v1"),
            "trafficRouting": {"builtin": {"unit": {"header": "x-user-id"}}},
            "strategy": {"canary": {"steps": steps, "scaleDownDelaySeconds": 0}},
            "analysis": {"intervalSeconds": 1, "minSamples": 50,
                         "prometheus": {"address": prometheus, "timeoutSeconds": 2},
                         "metrics": [{"name": "errors", "template": "errorRate",
                                      "toleranceBasisPoints": 100}]},
        },
    }


class Rollout:
    def __init__(self, api: client.ApiClient) -> None:
        self.objects = client.CustomObjectsApi(api)

    def status(self) -> dict[str, Any]:
        body = self.objects.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
        assert isinstance(body, dict)
        status: dict[str, Any] = body.get("status") or {}
        return status

    def replace(self, body: dict[str, Any]) -> None:
        try:
            self.objects.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
            until(lambda: not self.exists(), 60)
        except client.ApiException:
            pass
        self.objects.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        until(lambda: self.status().get("phase") == "Healthy", 120)

    def exists(self) -> bool:
        try:
            self.status()
            return True
        except client.ApiException:
            return False

    def set_version(self, version: str) -> None:
        self.objects.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME,
                                                    {"spec": {"template": template(version)}})


def until(check: Any, timeout: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    workdir = Path(tempfile.mkdtemp(prefix="mro-ttr-"))
    plane = None if args.kubeconfig else start(workdir / "cluster")
    kubeconfig = args.kubeconfig.resolve() if args.kubeconfig else plane.kubeconfig  # type: ignore[union-attr]
    install_crds(kubeconfig, REPO / "crds")
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api)
    if NAMESPACE not in {n.metadata.name for n in core.list_namespace().items if n.metadata}:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    stack = Stack(workdir=workdir / "stack", kubeconfig=kubeconfig)
    try:
        models = stack.train()
        stack.start_models(models)
        stack.start_router()
        stack.start_operator(MODELROLLOUT_MIN_WINDOW_SECONDS="5")
        holdout = json.loads((models / "holdout.json").read_text())
        target = Rollout(api)

        target.replace(rollout(stack.prometheus_url, [{"setWeight": 10}, CHAOS]))
        traffic = TrafficGenerator(f"127.0.0.1:{stack.router_port}", holdout["instances"],
                                   holdout["labels"], rate_per_second=args.rate)
        traffic.start()
        try:
            target.set_version("v3")
            until(lambda: traffic.first_error_at is not None, 180)
            first_bad = traffic.first_error_at
            served_before = traffic.stats.snapshot().get("candidate", 0)
            rolled_back = until(lambda: target.status().get("rejectedRevision") is not None, 180)
            served = traffic.stats.snapshot().get("candidate", 0) - served_before
            reason = target.status()["history"][-1]["message"]

            target.replace(rollout(stack.prometheus_url, GOOD))
            changed = time.monotonic()
            target.set_version("v3")
            promoted = until(lambda: bool(target.status().get("history")), 300)
            outcome = target.status()["history"][-1]["outcome"]
        finally:
            traffic.stop()
    finally:
        stack.close()
        if plane is not None:
            plane.stop()
    assert first_bad is not None
    seconds = rolled_back - first_bad
    print(json.dumps({
        "bench": "time_to_rollback", "scrape_interval_seconds": 1, "rate_per_second": args.rate,
        "bad_candidate": {"weight_percent": 10, "error_fraction": 0.3,
                          "seconds_first_bad_response_to_weight_0": round(seconds, 2),
                          "candidate_requests_meanwhile": served, "reason": reason},
        "good_candidate": {"seconds_to_promotion": round(promoted - changed, 2),
                           "outcome": outcome},
        "goal_rollback_within_15s": seconds <= 15,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
