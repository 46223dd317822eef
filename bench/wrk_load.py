"""wrk load for the router benchmarks, and a process's CPU and memory figures from /proc.

The Lua script sends a random x-user-id per request; wrk has no rate flag, so its `delay()` hook
paces the requests from an absolute monotonic schedule (LuaJIT ffi clock_gettime), one slot per
request. wrk's summary comes back as one BENCHJSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

BODY = '{"instances":[[1.0,2.0,3.0,4.0]]}'

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


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def run_wrk_measured(script: Path, port: int, seconds: int, connections: int,
                     pid: int | None) -> dict[str, float]:
    """run_wrk at saturation, plus the proxy's CPU per request if its pid is known."""
    before = cpu_seconds(pid) if pid is not None else (0.0, 0.0)
    stats = run_wrk(script, port, seconds, connections)
    if pid is not None:
        after = cpu_seconds(pid)
        stats["user_us_per_request"] = 1e6 * (after[0] - before[0]) / stats["requests"]
        stats["sys_us_per_request"] = 1e6 * (after[1] - before[1]) / stats["requests"]
    return stats


def memory(pid: int, key: str) -> int:
    """VmRSS or VmHWM of a process, bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)
