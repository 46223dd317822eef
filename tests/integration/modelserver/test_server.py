"""The real model server process on 127.0.0.1: predict, errors, health, keep-alive, shutdown."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.modelserver.model import load_model
from controller.modelserver.train import main as train_main
from tests.helpers import eventually

pytestmark = pytest.mark.integration

NAME = "digits"
MAX_BODY = 64 * 1024


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    models: Path

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def predict(self, document: Any) -> tuple[int, Any]:
        return self.request("POST", f"/v1/models/{NAME}:predict", json.dumps(document).encode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def start(model: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "controller.modelserver", "--model", str(model), "--port",
         str(port), "--host", "127.0.0.1", "--name", NAME, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    assert train_main(["--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def served(models: Path) -> Iterator[Served]:
    port = free_port()
    process = start(models / "v3.joblib", port, "--max-body-bytes", str(MAX_BODY))
    try:
        eventually(lambda: healthy(port) or process.poll() is not None, "model server up", 30)
        assert process.poll() is None, process.communicate()[0].decode()
        yield Served(port, process, models)
    finally:
        process.terminate()
        process.wait(timeout=10)


def holdout(models: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((models / "holdout.json").read_text())
    return document


def test_predict_matches_the_model_in_process(served: Served) -> None:
    rows = holdout(served.models)["instances"][:40]
    status, body = served.predict({"instances": rows})
    assert status == 200
    expected = load_model(served.models / "v3.joblib").predict(rows)
    assert [p["label"] for p in body["predictions"]] == [p.label for p in expected]
    assert all(isinstance(p["label"], int) and 0 < p["score"] <= 1 for p in body["predictions"])


def test_health_and_model_readiness(served: Served) -> None:
    assert served.request("GET", "/healthz") == (200, {"status": "ok"})
    assert served.request("GET", f"/v1/models/{NAME}") == (200, {"name": NAME, "ready": True})
    assert served.request("GET", "/v1/models") == (200, {"models": [NAME]})


@pytest.mark.parametrize(("document", "words"), [
    ({"instances": [[1, 2, 3]]}, "instances[0]: expected 64 features, got 3"),
    ({"instances": [[0] * 63 + ["x"]]}, "instances[0][63]: expected a number"),
    ({"rows": [[0] * 64]}, '{"instances"'),
])
def test_malformed_input_is_400_json(served: Served, document: Any, words: str) -> None:
    status, body = served.predict(document)
    assert status == 400
    assert words in body["error"]


def test_invalid_json_is_400(served: Served) -> None:
    status, body = served.request("POST", f"/v1/models/{NAME}:predict", b'{"instances": [')
    assert status == 400
    assert "not valid JSON" in body["error"]


def test_routing_errors(served: Served) -> None:
    status, body = served.request("POST", "/v1/models/other:predict", b"{}")
    assert (status, body["error"]) == (404, f"model 'other' not found; this server serves "
                                            f"'{NAME}'")
    assert served.request("GET", f"/v1/models/{NAME}:predict")[0] == 405
    assert served.request("GET", "/nothing")[0] == 404


def status_line(port: int, head: str) -> bytes:
    """Send a request head only and read the status line (no body: nothing left unread)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        return sock.makefile("rb").readline()


def test_body_over_the_limit_is_413_before_reading_it(served: Served) -> None:
    head = (f"POST /v1/models/{NAME}:predict HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {MAX_BODY + 1}\r\n\r\n")
    assert status_line(served.port, head).startswith(b"HTTP/1.1 413")


def test_missing_content_length_is_411(served: Served) -> None:
    head = (f"POST /v1/models/{NAME}:predict HTTP/1.1\r\nHost: x\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert status_line(served.port, head).startswith(b"HTTP/1.1 411")


def test_keep_alive_serves_many_requests_on_one_connection(served: Served) -> None:
    row = holdout(served.models)["instances"][0]
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        for _ in range(20):
            connection.request("POST", f"/v1/models/{NAME}:predict",
                               json.dumps({"instances": [row]}).encode())
            response = connection.getresponse()
            assert response.status == 200
            response.read()
            assert response.getheader("Connection") != "close"
    finally:
        connection.close()


def test_sigterm_stops_cleanly(models: Path) -> None:
    port = free_port()
    process = start(models / "v1.joblib", port)
    try:
        eventually(lambda: healthy(port), "model server up", 30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_bad_model_file_exits_1_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "bad.joblib").write_bytes(b"nope")
    result = subprocess.run(
        [sys.executable, "-m", "controller.modelserver", "--model", str(tmp_path / "bad.joblib"),
         "--port", str(free_port()), "--host", "127.0.0.1"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "cannot load" in result.stderr
