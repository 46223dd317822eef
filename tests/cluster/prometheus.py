"""A real Prometheus (Debian package) scraping loopback targets every second, for tests."""

from __future__ import annotations

import json
import shutil
import ssl
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.certificates import ServerCertificate
from tests.cluster.processes import Service, free_port, spawn, stop, wait_until

PROMETHEUS_BINARY = "prometheus"


@dataclass
class Prometheus:
    url: str
    service: Service
    config: Path
    ca: Path | None = None  # https: the certificate that signs the server's (self-signed)

    def query(self, promql: str) -> list[dict[str, object]]:
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        context = ssl.create_default_context(cafile=self.ca) if self.ca else None
        with urllib.request.urlopen(address, timeout=5, context=context) as response:
            body = json.load(response)
        result: list[dict[str, object]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        stop([self.service])


def _config(targets: Sequence[str]) -> str:
    target_list = ", ".join(f'"{t}"' for t in targets)
    return (
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n- job_name: targets\n"
        f"  static_configs:\n  - targets: [{target_list}]\n"
    )


def start_prometheus(workdir: Path, targets: Sequence[str], timeout: float = 60.0,
                     tls: ServerCertificate | None = None) -> Prometheus:
    """Start Prometheus on a free loopback port and wait until every target is up; with
    `tls` it serves https (--web.config.file)."""
    binary = shutil.which(PROMETHEUS_BINARY)
    if binary is None:
        raise RuntimeError("prometheus not found: apt-get install prometheus (see .ci/run)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(_config(targets))
    port = free_port()
    arguments = [
        binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
    ]
    if tls is not None:
        web_config = workdir / "web.yml"
        web_config.write_text(f"tls_server_config:\n  cert_file: {tls.certificate}\n"
                              f"  key_file: {tls.key}\n")
        arguments.append(f"--web.config.file={web_config}")
    service = spawn("prometheus", arguments, workdir / "logs")
    scheme = "https" if tls is not None else "http"
    prometheus = Prometheus(url=f"{scheme}://127.0.0.1:{port}", service=service, config=config,
                            ca=tls.ca if tls is not None else None)
    try:
        wait_until(lambda: len(prometheus.query("up == 1")) >= len(targets),
                   "Prometheus targets up", timeout, [service])
    except BaseException:
        prometheus.stop()
        raise
    return prometheus
