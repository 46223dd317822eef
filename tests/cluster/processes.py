"""Start, find and stop the local services (control plane, Prometheus) as real processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    name: str
    pid: int
    log: Path
    # How it was started, so that a fault test can start it again after killing it.
    args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _is_zombie(self.pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False


def spawn(name: str, args: list[str], logs: Path, env: dict[str, str] | None = None) -> Service:
    """Start a detached process (own session) so `make cluster-up` can return while it runs."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )
    return Service(name=name, pid=process.pid, log=log, args=args, env=env)


def stop(services: Sequence[Service], grace_seconds: float = 10.0) -> None:
    """SIGTERM in reverse start order, then SIGKILL whatever is left after the grace period."""
    for service in reversed(services):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for service in reversed(services):
        while service.alive() and time.monotonic() < deadline:
            _reap(service.pid)
            time.sleep(0.05)
        if service.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.pid, signal.SIGKILL)
        _reap(service.pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def reap(pid: int) -> bool:
    """Collect `pid` if it exited (a child of this process); False while it runs."""
    _reap(pid)
    return not Path(f"/proc/{pid}").exists() or _is_zombie(pid)


def wait_until(
    check: Callable[[], bool], what: str, timeout: float, services: Sequence[Service] = ()
) -> None:
    """Poll `check` until it holds; fail early, with the log tail, if a service died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            if not service.alive():
                raise RuntimeError(f"{service.name} exited while waiting for {what}:\n"
                                   + tail(service.log))
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    details = "".join(f"\n--- {s.name} ---\n{tail(s.log)}" for s in services)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{details}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
