"""`make demo`: two model releases on the local control plane, judged by real statistics.

v1 (baseline) serves; v2 (deliberately worse) goes through a shadow phase and a canary with
analysis and is rolled back automatically with the statistical reason; v3 (better) is promoted.
Real processes throughout: control plane, operator, model router, Prometheus, model servers and
users whose ground truth arrives later. Exit 0 only when both outcomes happened.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config

from controller.api import GROUP, PLURAL, VERSION
from examples.demo.report import render
from examples.demo.stack import NAME, NAMESPACE, Stack, demo_rollout, template
from examples.demo.traffic import TrafficGenerator

REPO = Path(__file__).resolve().parents[2]
ACT_TIMEOUT = 600.0


def rollout(prometheus_url: str) -> dict[str, Any]:
    return demo_rollout(prometheus_url, steps=[
        {"mirror": {"percent": 100, "durationSeconds": 15}},
        {"setWeight": 20},
        {"analysis": {"minSamples": 300}},
        {"setWeight": 50},
        {"analysis": {"minSamples": 600}},
    ], metrics=[
        {"name": "accuracy", "template": "feedbackAccuracy", "toleranceBasisPoints": 200},
        {"name": "errors", "template": "errorRate", "toleranceBasisPoints": 50},
    ])


class Demo:
    def __init__(self, stack: Stack, api: client.ApiClient) -> None:
        self.stack, self.objects = stack, client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.acts: list[tuple[str, dict[str, Any]]] = []  # each act's rollout at its end
        self.outcomes: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def body(self) -> dict[str, Any]:
        body = self.objects.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
        assert isinstance(body, dict)
        return body

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.body().get("status") or {}
        return status

    def set_version(self, version: str) -> None:
        self.objects.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME,
                                                    {"spec": {"template": template(version)}})

    def follow(self, act: str, traffic: TrafficGenerator) -> dict[str, Any]:
        """Print live progress until the act's rollout ends; return its history entry."""
        history_before = len(self.status().get("history", []))
        deadline = time.monotonic() + ACT_TIMEOUT
        while time.monotonic() < deadline:
            body = self.body()
            status: dict[str, Any] = body.get("status") or {}
            print(progress_line(time.monotonic() - self.started, act, status,
                                traffic.stats.snapshot()), flush=True)
            history = status.get("history", [])
            if len(history) > history_before and not status.get("candidateRevision"):
                entry: dict[str, Any] = history[-1]
                self.outcomes.append({"act": act, **entry})
                self.acts.append((act, body))  # analysisHistory holds until the next rollout
                return entry
            time.sleep(1.0)  # the refresh rate of the live view
        raise SystemExit(f"{act}: no outcome within {ACT_TIMEOUT:.0f}s")

    def events(self) -> list[tuple[str, str, str]]:
        events = self.core.list_namespaced_event(
            NAMESPACE, field_selector=f"involvedObject.name={NAME}").items
        ordered = sorted(events, key=lambda e: str(e.last_timestamp or e.event_time or ""))
        return [(str(e.last_timestamp or ""), e.reason or "", e.message or "") for e in ordered]


def bar(fraction: float, width: int = 20) -> str:
    filled = int(max(0.0, min(fraction, 1.0)) * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def progress_line(seconds: float, act: str, status: dict[str, Any],
                  stats: dict[str, int]) -> str:
    traffic = status.get("traffic") or {}
    mirrors = ",".join(f"{m['variant']}:{m['percent']}%" for m in traffic.get("mirrors", []))
    step = status.get("currentStepIndex")
    parts = [f"[{seconds:5.0f}s] {act} {status.get('phase', '?'):<11}",
             f"step {'-' if step is None else step + 1}",
             f"live {traffic.get('candidateWeight', 0):>3}%", f"mirror {mirrors or '-'}",
             f"req {sum(v for k, v in stats.items() if k not in ('errors', 'feedback'))}"]
    for metric in (status.get("analysis") or {}).get("metrics", []):
        samples = metric.get("samples", {})
        needed = metric.get("samplesNeeded") or 0
        seen = samples.get("candidate", 0)
        parts.append(
            f"{metric['name']}: n={samples.get('stable', 0)}/{seen} "
            f"est={_num(metric.get('estimate'))} p={_num(metric.get('pValue'))} "
            f"{metric['verdict']}" + (f" {bar(seen / (seen + needed))}" if needed else ""))
    return " | ".join(parts)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def run(args: argparse.Namespace) -> int:
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # loopback, self-signed
    kubeconfig = args.kubeconfig.resolve()
    workdir = (args.workdir or kubeconfig.parent / "demo").resolve()
    api = config.new_client_from_config(config_file=str(kubeconfig))
    stack = Stack(workdir=workdir, kubeconfig=kubeconfig)
    try:
        print("training v1 (baseline), v2 (worse), v3 (better) on scikit-learn's digits ...")
        models = stack.train()
        print(json.dumps(json.loads((models / "models.json").read_text()), indent=None)[:400])
        stack.start_models(models)
        stack.start_router()
        stack.start_operator()
        core = client.CoreV1Api(api)
        if NAMESPACE not in {n.metadata.name for n in core.list_namespace().items if n.metadata}:
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        objects = client.CustomObjectsApi(api)
        with contextlib.suppress(client.ApiException):
            objects.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
        demo = Demo(stack, api)
        wait_for(lambda: not _exists(objects), "the previous demo rollout to go", 60)
        objects.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                                rollout(stack.prometheus_url))
        wait_for(lambda: demo.status().get("phase") == "Healthy", "v1 Healthy", 120)
        holdout = json.loads((models / "holdout.json").read_text())
        traffic = TrafficGenerator(f"127.0.0.1:{stack.router_port}", holdout["instances"],
                                   holdout["labels"], rate_per_second=args.rate)
        traffic.start()
        try:
            print("\nact 1: v2 (worse) — shadow phase, then canary with analysis")
            demo.set_version("v2")
            first = demo.follow("v2", traffic)
            print(f"\nv2 {first['outcome']}: {first['message']}\n")
            print("act 2: v3 (better)")
            demo.set_version("v3")
            second = demo.follow("v3", traffic)
            print(f"\nv3 {second['outcome']}: {second['message']}\n")
        finally:
            traffic.stop()
        report = args.report or workdir / "report.html"
        report.write_text(render(demo.acts, demo.outcomes, demo.events()))
        print(f"summary: v2 {first['outcome']} ({first['reason']}), v3 {second['outcome']}; "
              f"{traffic.stats.snapshot()}\nreport: {report}")
        return 0 if (first["outcome"], second["outcome"]) == ("RolledBack", "Promoted") else 1
    finally:
        stack.close()


def _exists(objects: client.CustomObjectsApi) -> bool:
    try:
        objects.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
        return True
    except client.ApiException:
        return False


def wait_for(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, default=REPO / ".cluster" / "kubeconfig")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--report", type=Path)
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
