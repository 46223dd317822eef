"""Benchmark: the built-in model router vs Debian's nginx doing the same work, side by side.

Backends: one nginx process serving fixed JSON predictions on three ports (stable, candidate,
shadow), so the backends are never the bottleneck and both proxies talk to exactly the same
servers.  The nginx proxy splits with `split_clients` on the x-user-id header, tees with
`mirror`, and keeps upstream connections alive; our router gets the equivalent routing table.
Both proxies run one process (nginx `worker_processes 1`): a per-core comparison.

Load: Debian's `wrk` with a Lua script that sends a random x-user-id per request, first at
saturation, then at a fixed rate.  wrk has no rate flag, so the Lua `delay()` hook paces the
requests from an absolute monotonic schedule (LuaJIT ffi clock_gettime), one slot per request.
Added latency = proxy percentile - the same percentile measured directly against the backend
at the same rate.  Everything is on 127.0.0.1 and bounded by --duration.  Saturation runs
come in --rounds nginx/router pairs and the median pair's ratio is reported: one 10 s run on a
shared machine varies by more than 10%.

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
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BODY = '{"instances":[[1.0,2.0,3.0,4.0]]}'
WEIGHT_PERCENT = 10

LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval_ms = 0
local next_at = nil
local headers = {["content-type"] = "application/json"}
local body = '__BODY__'

function init(args)
  interval_ms = tonumber(args[1] or "0")
  math.randomseed(tonumber(args[2] or "1"))
end

function request()
  headers["x-user-id"] = "u" .. math.random(1, 1000000)
  return wrk.format("POST", "/v1/models/m:predict", headers, body)
end

if true then
  function delay()
    if interval_ms <= 0 then return 0 end
    local t = now_ms()
    if next_at == nil or next_at < t then next_at = t end
    local wait = next_at - t
    next_at = next_at + interval_ms
    return math.floor(wait)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
""".replace("__BODY__", BODY)


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


def nginx_common(work: Path, name: str) -> str:
    return (
        f"worker_processes 1;\npid {work}/{name}.pid;\nerror_log {work}/{name}.err warn;\n"
        "events { worker_connections 4096; }\n"
    )


def backends_conf(work: Path, ports: dict[str, int]) -> str:
    servers = []
    answer = '{{"predictions":[{{"label":"{}","score":0.75}}]}}'
    for label, port in (("cat", ports["stable"]), ("dog", ports["candidate"]),
                        ("cat", ports["shadow"])):
        servers.append(
            f"  server {{ listen 127.0.0.1:{port} reuseport; keepalive_requests 1000000;\n"
            f"    location / {{ default_type application/json;\n"
            f"      return 200 '{answer.format(label)}'; }} }}"
        )
    return (
        nginx_common(work, "backends")
        + f"http {{ access_log off; client_body_temp_path {work}/bb;\n"
        + "\n".join(servers) + "\n}\n"
    )


def proxy_conf(work: Path, ports: dict[str, int]) -> str:
    def upstream(name: str) -> str:
        return (f"  upstream {name} {{ server 127.0.0.1:{ports[name]}; keepalive 128;"
                " keepalive_requests 1000000; }\n")

    proxy = ("proxy_http_version 1.1; proxy_set_header Connection \"\"; "
             "proxy_pass http://$variant;")
    return (
        nginx_common(work, "proxy")
        + f"http {{ access_log off; client_body_temp_path {work}/pb;"
        + f" proxy_temp_path {work}/pt; keepalive_requests 1000000;\n"
        + '  split_clients "bench-salt${http_x_user_id}" $variant {'
        + f" {WEIGHT_PERCENT}% candidate; * stable; }}\n"
        + upstream("stable") + upstream("candidate") + upstream("shadow")
        + f"  server {{ listen 127.0.0.1:{ports['nginx']}; location / {{ {proxy} }} }}\n"
        + f"  server {{ listen 127.0.0.1:{ports['nginx_mirror']};\n"
        + f"    location / {{ mirror /__mirror; mirror_request_body on; {proxy} }}\n"
        + "    location = /__mirror { internal; proxy_http_version 1.1;"
        + ' proxy_set_header Connection ""; proxy_pass http://shadow$request_uri; } }\n'
        + "}\n"
    )


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
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
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


def run_wrk(script: Path, port: int, seconds: int, connections: int,
            interval_ms: float = 0.0) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s",
           str(script), f"http://127.0.0.1:{port}/", "--", str(interval_ms), "7"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True)
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            stats = json.loads(line.removeprefix("BENCHJSON "))
            stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
            return {k: float(v) for k, v in stats.items()}
    raise RuntimeError(f"wrk printed no result: {out.stdout}\n{out.stderr}")


def put_table(admin_port: int, table: dict[str, Any]) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{admin_port}/table", method="PUT",
                                 data=json.dumps(table).encode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.status != 200:
            raise RuntimeError(f"table rejected: {resp.read()!r}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    names = ("stable", "candidate", "shadow", "nginx", "nginx_mirror", "router", "admin")
    ports = {name: free_port() for name in names}
    (work / "backends.conf").write_text(backends_conf(work, ports))
    (work / "proxy.conf").write_text(proxy_conf(work, ports))
    (work / "table.json").write_text(json.dumps(router_table(ports, 1, mirror=False)))
    script = work / "load.lua"
    script.write_text(LUA)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    router_cmd = [sys.executable, "-m", "controller.router", "--log-level", "WARNING",
                  "--listen", f"127.0.0.1:{ports['router']}",
                  "--admin", f"127.0.0.1:{ports['admin']}",
                  "--table-file", str(work / "table.json")]
    d = args.duration
    interval_ms = 1000.0 / args.rate  # one thread: its schedule is the whole rate
    rate_conns = max(4, args.rate // 100)
    with (
        process([nginx, "-p", str(work), "-c", str(work / "backends.conf"), "-g",
                 "daemon off;"], work / "backends.log"),
        process([nginx, "-p", str(work), "-c", str(work / "proxy.conf"), "-g", "daemon off;"],
                work / "proxy.log"),
        process(router_cmd, work / "router.log"),
    ):
        for name in ("stable", "candidate", "shadow", "nginx", "nginx_mirror", "router",
                     "admin"):
            wait_port(ports[name])
        for port in (ports["nginx"], ports["router"]):  # warm pools and caches
            run_wrk(script, port, 1, args.connections)
        log("saturation, no mirror")
        nginx_plain, router_plain = paired_rounds(script, ports["nginx"], ports["router"],
                                                  args)
        log("fixed rate")
        direct = run_wrk(script, ports["stable"], d, rate_conns, interval_ms)
        nginx_rate = run_wrk(script, ports["nginx"], d, rate_conns, interval_ms)
        router_rate = run_wrk(script, ports["router"], d, rate_conns, interval_ms)
        log("saturation, mirror")
        put_table(ports["admin"], router_table(ports, 2, mirror=True))
        nginx_mirror, router_mirror = paired_rounds(script, ports["nginx_mirror"],
                                                    ports["router"], args)
    return summarise(args, nginx_plain, router_plain, nginx_mirror, router_mirror, direct,
                     nginx_rate, router_rate)


def paired_rounds(script: Path, nginx_port: int, router_port: int,
                  args: argparse.Namespace) -> tuple[dict[str, float], dict[str, float]]:
    """nginx and the router back to back, `--rounds` times; the round with the median ratio
    stands for both (a busy neighbour then hits both sides of a pair alike)."""
    pairs = []
    for _ in range(args.rounds):
        nginx = run_wrk(script, nginx_port, args.duration, args.connections)
        router = run_wrk(script, router_port, args.duration, args.connections)
        router["ratio"] = router["rps"] / nginx["rps"]
        pairs.append((nginx, router))
    pairs.sort(key=lambda pair: pair[1]["ratio"])
    return pairs[len(pairs) // 2]


def summarise(args: argparse.Namespace, nginx_plain: dict[str, float],
              router_plain: dict[str, float], nginx_mirror: dict[str, float],
              router_mirror: dict[str, float], direct: dict[str, float],
              nginx_rate: dict[str, float], router_rate: dict[str, float]) -> dict[str, Any]:
    def ms(us: float) -> float:
        return round(us / 1000.0, 3)

    return {
        "throughput_ratio": round(router_plain["rps"] / nginx_plain["rps"], 3),
        "throughput_ratio_mirror": round(router_mirror["rps"] / nginx_mirror["rps"], 3),
        "added_p50_ms": ms(router_rate["p50_us"] - direct["p50_us"]),
        "added_p99_ms": ms(router_rate["p99_us"] - direct["p99_us"]),
        "nginx_added_p50_ms": ms(nginx_rate["p50_us"] - direct["p50_us"]),
        "nginx_added_p99_ms": ms(nginx_rate["p99_us"] - direct["p99_us"]),
        "router_rps": round(router_plain["rps"]), "nginx_rps": round(nginx_plain["rps"]),
        "router_mirror_rps": round(router_mirror["rps"]),
        "nginx_mirror_rps": round(nginx_mirror["rps"]),
        "fixed_rate_target_rps": args.rate,
        "fixed_rate_measured_rps": {"direct": round(direct["rps"]),
                                    "nginx": round(nginx_rate["rps"]),
                                    "router": round(router_rate["rps"])},
        "errors": {k: int(v["errors"]) for k, v in (
            ("router", router_plain), ("nginx", nginx_plain), ("router_mirror", router_mirror),
            ("nginx_mirror", nginx_mirror), ("router_rate", router_rate))},
        "duration_s": args.duration, "connections": args.connections, "rounds": args.rounds,
        "workers": {"nginx": 1, "router": 1}, "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


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
    os.chdir(REPO)  # so `python -m controller.router` imports this checkout
    work = Path(tempfile.mkdtemp(prefix="router-bench-"))
    try:
        result = bench(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
