"""Benchmark: delayed labels joined across N router replicas, out of order and days late.

N router processes (the real RouterService, one process each) share one key ring and one
routing table; a model backend answers on 127.0.0.1. Predictions go round-robin to the
replicas; each label then goes to another replica than the one that served it, in the order
it "arrives": a delay drawn per label (exponential, mean --mean-delay-days, so most come within
days and some after the --validity-days of a token), shuffled. Time is simulated: every replica
reads its token clock (wall time plus an offset) from a shared file the bench moves forward,
so weeks pass in seconds. Halfway through the labels one replica is killed (after a last scrape
of its counters, as Prometheus would have it) and started again.

Reports labels joined / labels sent within validity (the goal is 1.0: none lost, none twice),
the late ones refused as expired, the replicas' resident memory (VmRSS and its peak), and the
replay filters' size. Prints one JSON line on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import mmap
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.contract.keyring import new_keyring  # noqa: E402
from tests.integration.router.backends import ModelBackend, label_backend  # noqa: E402
from tests.integration.router.harness import LoopThread, table, wait_for  # noqa: E402

DAY = 86_400.0


class SharedClock:
    """Wall time plus an offset (seconds) held in an 8-byte file every replica maps."""

    def __init__(self, path: Path) -> None:
        with path.open("r+b") as file:
            self.map = mmap.mmap(file.fileno(), 8)

    def __call__(self) -> float:
        offset: float = struct.unpack("d", self.map[:8])[0]
        return time.time() + offset

    def advance_to(self, offset: float) -> None:
        self.map[:8] = struct.pack("d", offset)


def replica_main(args: argparse.Namespace) -> None:
    """One replica: the router's own service, its token clock the shared one."""
    import uvloop

    from controller.router.feedback import FeedbackSettings
    from controller.router.service import RouterService
    from controller.router.settings import RouterSettings
    from controller.router.source import FileTableSource

    async def run() -> None:
        config = RouterSettings(
            host="127.0.0.1", port=0, admin_host="127.0.0.1", admin_port=0,
            sources=[FileTableSource(args.table)], token_keys_file=args.keys,
            feedback=FeedbackSettings(token_validity_s=args.validity_days * DAY))
        service = RouterService(config, wall_clock=SharedClock(Path(args.clock)))
        await service.start()
        print(f"ports {service.port} {service.admin_port}", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await service.close()

    uvloop.run(run())


class Replica:
    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--replica", "--table", str(work / "table.json"),
             "--keys", str(work / "keys.json"), "--clock", str(work / "clock"),
             "--validity-days", str(args.validity_days)],
            stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert self.proc.stdout is not None
        _, port, admin = self.proc.stdout.readline().split()
        self.port, self.admin_port = int(port), int(admin)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        wait_for(lambda: self.sample("modelrouter_table_version") == 1, 30.0, "the table")

    def post(self, path: str, body: bytes) -> tuple[int, dict[str, str]]:
        self.conn.request("POST", path, body=body)
        response = self.conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}

    def metrics(self) -> dict[str, float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=30)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                samples[series] = float(value)
        return samples

    def sample(self, name: str, **labels: str) -> float:
        return total(self.metrics(), name, **labels)

    def memory(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    return sum(v for series, v in samples.items() if series.partition("{")[0] == name
               and all(f'{k}="{val}"' in series for k, val in labels.items()))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    (work / "keys.json").write_text(json.dumps(new_keyring()))
    (work / "clock").write_bytes(struct.pack("d", 0.0))
    clock = SharedClock(work / "clock")
    lt = LoopThread()
    backend = ModelBackend(label_backend("cat"))
    lt.run(backend.start())
    (work / "table.json").write_text(json.dumps(table(1, backend.address, window="v2/step-0",
                                                      experiment="bench/model")))
    replicas = [Replica(work, args) for _ in range(args.replicas)]
    try:
        log(f"{args.predictions} predictions over {args.replicas} replicas")
        issued: list[tuple[int, str, str]] = []  # (serving replica, token, true label)
        for i in range(args.predictions):
            index = i % len(replicas)
            status, headers = replicas[index].post("/v1/models/m:predict",
                                                   b'{"instances": [%d]}' % i)
            assert status == 200, status
            issued.append((index, headers["x-prediction-token"], rng.choice(("cat", "dog"))))
        idle_rss = [r.memory("VmRSS") for r in replicas]
        # Each label's arrival: days later, in its own order (not the serving order).
        arrivals = sorted((rng.expovariate(1.0 / (args.mean_delay_days * DAY)), index, token,
                           label) for index, token, label in issued)
        within = sum(1 for delay, *_ in arrivals if delay <= args.validity_days * DAY)
        log(f"{len(arrivals)} labels, {within} within {args.validity_days} days, "
            f"the last {arrivals[-1][0] / DAY:.1f} days late")
        statuses: dict[int, int] = {}
        scraped: dict[str, float] = {}
        filters: list[int] = []
        started = time.monotonic()
        for n, (delay, served_by, token, label) in enumerate(arrivals):
            if n == len(arrivals) // 2:
                victim = 1 % len(replicas)
                log(f"restarting replica {victim} at day {delay / DAY:.1f}")
                scraped = replicas[victim].metrics()
                filters = [int(r.sample("modelrouter_limit_usage",
                                        setting="replay_filter_entries")) for r in replicas]
                replicas[victim].stop(signal.SIGKILL)
                replicas[victim] = Replica(work, args)
            clock.advance_to(delay)
            target = (served_by + 1 + rng.randrange(len(replicas) - 1)) % len(replicas) if (
                len(replicas) > 1) else 0
            body = json.dumps({"token": token, "label": label}).encode()
            status, _ = replicas[target].post("/feedback", body)
            statuses[status] = statuses.get(status, 0) + 1
        label_seconds = time.monotonic() - started
        final = [r.metrics() for r in replicas]
        joined = total(scraped, "modelrouter_feedback_total") + sum(
            total(s, "modelrouter_feedback_total") for s in final)
        expired = total(scraped, "modelrouter_feedback_refused_total", reason="expired") + sum(
            total(s, "modelrouter_feedback_refused_total", reason="expired") for s in final)
        return {
            "replicas": args.replicas, "predictions": args.predictions,
            "labels_sent": len(arrivals), "labels_sent_within_validity": within,
            "labels_joined": int(joined), "labels_refused_expired": int(expired),
            "joined_over_sent_within_validity": round(joined / within, 6) if within else None,
            "labels_lost": within - int(joined),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "mean_delay_days": args.mean_delay_days, "validity_days": args.validity_days,
            "last_label_days": round(arrivals[-1][0] / DAY, 1),
            "feedback_per_s": round(len(arrivals) / label_seconds),
            "restarted_replicas": 1,
            "rss_mib_idle": [round(b / 2**20, 1) for b in idle_rss],
            "rss_mib_after": [round(r.memory("VmRSS") / 2**20, 1) for r in replicas],
            "rss_mib_peak": [round(r.memory("VmHWM") / 2**20, 1) for r in replicas],
            "replay_filter_entries_at_restart": filters,
        }
    finally:
        for replica in replicas:
            replica.stop()
        lt.run(backend.stop())
        lt.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--predictions", type=int, default=20_000)
    parser.add_argument("--mean-delay-days", type=float, default=5.0)
    parser.add_argument("--validity-days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--replica", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    parser.add_argument("--clock", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replica:
        replica_main(args)
        return
    with tempfile.TemporaryDirectory(prefix="feedback-scale-") as work:
        result = bench(args, Path(work))
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
