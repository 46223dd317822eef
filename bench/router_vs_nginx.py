"""Benchmark: the built-in model router vs Debian's nginx doing the same work, side by side.

Backends: one nginx process serving fixed JSON predictions on three ports (stable, candidate,
shadow), so the backends are never the bottleneck and both proxies talk to exactly the same
servers.  The nginx proxy splits with `split_clients` on the x-user-id header, tees with
`mirror`, and keeps upstream connections alive; our router gets the equivalent routing table.
Both proxies run one process (nginx `worker_processes 1`): a per-core comparison.  Two routers
run side by side: the shipped build, whose request path is compiled with mypyc as in the image
(built by tests/compiled_router.py, cached), and the same sources under the interpreter.

Load: Debian's `wrk` with a Lua script that sends a random x-user-id per request, first at
saturation, then at a fixed rate.  wrk has no rate flag, so the Lua `delay()` hook paces the
requests from an absolute monotonic schedule (LuaJIT ffi clock_gettime), one slot per request.
Added latency = proxy percentile - the same percentile measured directly against the backend
at the same rate.  Everything is on 127.0.0.1 and bounded by --duration.  Saturation runs
come in --rounds nginx/router/router rounds and the median round is reported: one 10 s run on a
shared machine varies by more than 10%.

Prediction tokens are on, as shipped: both routers sign every answer with the key ring of
--token-keys-file. The cost of a token is also timed alone (build, sign and encode one token,
and verify one, per call) in each router's build: token_us_per_request.

Memory under attack: a fresh shipped router's resident memory (VmRSS, then VmHWM, from
/proc) idle and while 8 connections each stream an unterminated header value (64 KiB pieces,
up to 64 MiB each, until the router refuses them); the goal is a peak under 2x idle.

Prints one JSON line on stdout (progress goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nginx_conf import WEIGHT_PERCENT, backends_conf, proxy_conf  # noqa: E402
from wrk_load import BODY, LUA, memory, run_wrk, run_wrk_measured  # noqa: E402

from controller.contract.keyring import new_keyring  # noqa: E402
from tests import compiled_router  # noqa: E402

# The shipped router (mypyc-compiled request path, as in the image) and the same sources run by
# the interpreter; the throughput_ratio keys without a suffix are the shipped one's.
ROUTERS = ("router", "router_interpreted")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def router_table(ports: dict[str, int], version: int, mirror: bool) -> dict[str, Any]:
    rule = {"path": "predictions[0].label"}
    table: dict[str, Any] = {
        "version": version,
        "salt": "bench-salt",
        "stable": {"backends": [f"127.0.0.1:{ports['stable']}"], "prediction": rule},
        "candidate": {"backends": [f"127.0.0.1:{ports['candidate']}"],
                      "weightBp": WEIGHT_PERCENT * 100, "prediction": rule},
        "sticky": {"header": "x-user-id"},
    }
    if mirror:
        table["shadows"] = [{"name": "shadow", "backends": [f"127.0.0.1:{ports['shadow']}"],
                             "mirrorBp": 10_000, "prediction": rule}]
    return table


@contextmanager
def process(args: list[str], log: Path, env: dict[str, str] | None = None
            ) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


ADMIN_TOKEN = "bench-admin-token-" + "b" * 32


def stream_unterminated_header(port: int, limit: int, deadline: float) -> int:
    """A request head whose header value never ends, until `limit` bytes, the deadline or
    the router closing the connection; the bytes sent."""
    piece = b"v" * (64 << 10)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
            while sent < limit and time.monotonic() < deadline:
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # refused (431) and closed
    return sent


def header_attack(work: Path, env: dict[str, str]) -> dict[str, float]:
    """A fresh shipped router: RSS idle (after a few requests) and at its peak under 8
    connections streaming an unterminated header value."""
    ports = {name: free_port() for name in ("attack", "attack_admin")}
    with process(router_command(ports, work, "attack"), work / "attack.log", env) as proc:
        wait_port(ports["attack"])
        url = f"http://127.0.0.1:{ports['attack']}/v1/models/m:predict"
        deadline = time.monotonic() + 15
        served = 0
        while served < 20 and time.monotonic() < deadline:  # the table file is polled
            try:
                with urllib.request.urlopen(urllib.request.Request(
                        url, data=BODY.encode()), timeout=5) as resp:
                    served += resp.status == 200
            except OSError:
                time.sleep(0.05)
        idle = memory(proc.pid, "VmRSS")
        deadline = time.monotonic() + 120
        sent = [0] * 8

        def attack(i: int) -> None:
            sent[i] = stream_unterminated_header(ports["attack"], 64 << 20, deadline)

        threads = [threading.Thread(target=attack, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        peak = memory(proc.pid, "VmHWM")
    mib = 1 << 20
    return {"header_attack_idle_rss_mib": round(idle / mib, 1),
            "header_attack_peak_rss_mib": round(peak / mib, 1),
            "header_attack_rss_ratio": round(peak / idle, 2),
            "header_attack_sent_mib": round(sum(sent) / mib, 1)}


def put_table(admin_port: int, table: dict[str, Any]) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{admin_port}/table", method="PUT",
                                 data=json.dumps(table).encode(),
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.status != 200:
            raise RuntimeError(f"table rejected: {resp.read()!r}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def router_command(ports: dict[str, int], work: Path, name: str) -> list[str]:
    # -P: `python -m` must not put the checkout ahead of the compiled build on PYTHONPATH
    return [sys.executable, "-P", "-m", "controller.router", "--log-level", "WARNING",
            "--listen", f"127.0.0.1:{ports[name]}",
            "--admin", f"127.0.0.1:{ports[name + '_admin']}",
            "--table-file", str(work / "table.json"),
            "--admin-token-file", str(work / "admin-token"),
            "--token-keys-file", str(work / "token-keys.json")]


TOKEN_TIMING = r"""
import json, sys, timeit
from controller.router.token import (EXPERIMENT, Claims, encode, encode_parts, exact_code,
                                     head_json, json_text, verify)
key = b"k" * 32
head = head_json("ns/model", "v2/step-3", "candidate", "v2", EXPERIMENT)  # once per table
rendered = json_text(exact_code("cat"))  # once per distinct prediction
def sign():  # what the request path does per answer (LabelJoin.issue_fast)
    return encode_parts("0123456789abcdef1a2b", 1767225600, head, 17, rendered, "[]", "k1", key)
def sign_all():  # from scratch: every claim rendered
    return encode(Claims("0123456789abcdef1a2b", 1767225600, "ns/model", "v2/step-3",
                         "candidate", "v2", EXPERIMENT, 17, exact_code("cat"), ()), "k1", key)
token = sign()
n = 20000
best = {}
for name, fn in (("sign", sign), ("sign_uncached", sign_all),
                 ("verify", lambda: verify(token, {"k1": key}))):
    best[name] = min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6
print(json.dumps({**{k: round(v, 2) for k, v in best.items()}, "header_bytes": len(token)}))
"""


def token_cost(env: dict[str, str]) -> dict[str, float]:
    """µs to build and sign one token, and to verify one, in the given build."""
    out = subprocess.run([sys.executable, "-P", "-c", TOKEN_TIMING], env=env, check=True,
                         capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out)
    return result


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    names = ("stable", "candidate", "shadow", "nginx", "nginx_mirror", *ROUTERS,
             *(f"{router}_admin" for router in ROUTERS))
    ports = {name: free_port() for name in names}
    (work / "backends.conf").write_text(backends_conf(work, ports))
    (work / "proxy.conf").write_text(proxy_conf(work, ports))
    (work / "table.json").write_text(json.dumps(router_table(ports, 1, mirror=False)))
    (work / "admin-token").write_text(ADMIN_TOKEN)
    (work / "token-keys.json").write_text(json.dumps(new_keyring()))
    script = work / "load.lua"
    script.write_text(LUA)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    compiled = compiled_router.compiled_environment(compiled_router.build())
    interpreted = dict(os.environ, PYTHONPATH=str(REPO))
    d = args.duration
    interval_ms = 1000.0 / args.rate  # one thread: its schedule is the whole rate
    rate_conns = max(4, args.rate // 100)
    with (
        process([nginx, "-p", str(work), "-c", str(work / "backends.conf"), "-g",
                 "daemon off;"], work / "backends.log"),
        process([nginx, "-p", str(work), "-c", str(work / "proxy.conf"), "-g", "daemon off;"],
                work / "proxy.log"),
        process(router_command(ports, work, "router"), work / "router.log",
                compiled) as shipped,
        process(router_command(ports, work, "router_interpreted"),
                work / "router_interpreted.log", interpreted) as interpreter,
    ):
        pids = {ports["router"]: shipped.pid, ports["router_interpreted"]: interpreter.pid}
        for name in names:
            wait_port(ports[name])
        for port in (ports["nginx"], *(ports[router] for router in ROUTERS)):  # warm up
            run_wrk(script, port, 1, args.connections)
        log("saturation, no mirror")
        plain = rounds(script, [ports["nginx"], *(ports[router] for router in ROUTERS)], pids,
                       args)
        log("fixed rate")
        rate = {"direct": run_wrk(script, ports["stable"], d, rate_conns, interval_ms)}
        for name in ("nginx", *ROUTERS):
            rate[name] = run_wrk(script, ports[name], d, rate_conns, interval_ms)
        log("saturation, mirror")
        for router in ROUTERS:
            put_table(ports[f"{router}_admin"], router_table(ports, 2, mirror=True))
        mirror = rounds(script, [ports["nginx_mirror"], *(ports[router] for router in ROUTERS)],
                        pids, args)
        log("memory under the unterminated-header attack")
        attack = header_attack(work, compiled)
    tokens = {"token_us_per_request": {"router": token_cost(compiled),
                                       "router_interpreted": token_cost(interpreted)}}
    return summarise(args, plain, mirror, rate) | attack | tokens


def rounds(script: Path, ports: list[int], pids: dict[int, int],
           args: argparse.Namespace) -> list[dict[str, float]]:
    """nginx (first port) and each router back to back, `--rounds` times; the round with the
    median ratio of the shipped (compiled) router stands for all (a busy neighbour then hits
    every side of a round alike)."""
    runs = [[run_wrk_measured(script, port, args.duration, args.connections, pids.get(port))
             for port in ports]
            for _ in range(args.rounds)]
    runs.sort(key=lambda run: run[1]["rps"] / run[0]["rps"])
    return runs[len(runs) // 2]


def summarise(args: argparse.Namespace, plain: list[dict[str, float]],
              mirror: list[dict[str, float]], rate: dict[str, dict[str, float]]
              ) -> dict[str, Any]:
    def ms(us: float) -> float:
        return round(us / 1000.0, 3)

    def added(name: str, percentile: str) -> float:
        return ms(rate[name][percentile] - rate["direct"][percentile])

    result: dict[str, Any] = {
        "nginx_rps": round(plain[0]["rps"]), "nginx_mirror_rps": round(mirror[0]["rps"]),
        "nginx_added_p50_ms": added("nginx", "p50_us"),
        "nginx_added_p99_ms": added("nginx", "p99_us"),
        "fixed_rate_target_rps": args.rate,
        "fixed_rate_measured_rps": {name: round(stats["rps"]) for name, stats in rate.items()},
        "errors": {name: int(stats["errors"]) for name, stats in (
            *zip(("nginx", *ROUTERS), plain, strict=True),
            *zip(("nginx_mirror", *(f"{r}_mirror" for r in ROUTERS)), mirror, strict=True),
            *((f"{r}_rate", rate[r]) for r in ROUTERS))},
        "duration_s": args.duration, "connections": args.connections, "rounds": args.rounds,
        "workers": {"nginx": 1, "router": 1}, "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    for index, router in enumerate(ROUTERS, start=1):
        suffix = "" if router == "router" else "_interpreted"
        result |= {
            f"throughput_ratio{suffix}": round(plain[index]["rps"] / plain[0]["rps"], 3),
            f"throughput_ratio_mirror{suffix}": round(mirror[index]["rps"] / mirror[0]["rps"], 3),
            f"added_p50_ms{suffix}": added(router, "p50_us"),
            f"added_p99_ms{suffix}": added(router, "p99_us"),
            f"{router}_rps": round(plain[index]["rps"]),
            f"{router}_mirror_rps": round(mirror[index]["rps"]),
            f"{router}_cpu_us_per_request": {
                kind: round(plain[index][f"{kind}_us_per_request"], 1) for kind in ("user", "sys")},
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64, help="at saturation")
    parser.add_argument("--rounds", type=int, default=5,
                        help="nginx/router pairs at saturation; the median ratio is reported")
    parser.add_argument("--rate", type=int, default=1000, help="fixed rate, requests/s")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} not found: apt-get install -y nginx wrk")
    work = Path(tempfile.mkdtemp(prefix="router-bench-"))
    try:
        result = bench(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
