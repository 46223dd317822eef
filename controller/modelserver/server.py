"""The HTTP shell around protocol.py and model.py: stdlib ThreadingHTTPServer, HTTP/1.1
keep-alive (the router reuses its connections), JSON in and out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from controller.modelserver.model import Model
from controller.modelserver.protocol import (
    RequestError,
    Route,
    check_body_size,
    check_model_name,
    encode,
    error_body,
    model_body,
    parse_instances,
    predictions_body,
    route,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    name: str
    max_body_bytes: int = 1 << 20
    idle_timeout_seconds: float = 75.0
    access_log: bool = False


class ModelHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection never blocks shutdown

    def __init__(self, address: tuple[str, int], model: Model, settings: Settings) -> None:
        self.model, self.settings = model, settings
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ModelHTTPServer
    server_version = "modelrollout-modelserver"
    disable_nagle_algorithm = True  # small JSON answers must not wait for a delayed ACK

    def setup(self) -> None:
        super().setup()
        # an idle keep-alive client must not hold a thread forever
        self.connection.settimeout(self.server.settings.idle_timeout_seconds)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        try:
            status, document = self._respond(method)
        except RequestError as error:
            status, document = error.status, error_body(error.message)
        except Exception as error:  # a model failure must still answer JSON, not drop the socket
            log.exception("prediction failed")
            status, document = 500, error_body(f"prediction failed: {type(error).__name__}")
        self._send(status, document)

    def _respond(self, method: str) -> tuple[int, dict[str, Any]]:
        found = route(self.path)
        if found is None:
            raise RequestError(404, f"no endpoint {self.path.split('?', 1)[0]}; try POST "
                                    f"/v1/models/{self.server.settings.name}:predict")
        wanted = "POST" if found.kind == "predict" else "GET"
        if method != wanted:
            raise RequestError(405, f"{method} not allowed here; use {wanted}")
        return self._answer(found)

    def _answer(self, found: Route) -> tuple[int, dict[str, Any]]:
        name = self.server.settings.name
        if found.kind == "healthz":
            return 200, {"status": "ok"}
        if found.kind == "models":
            return 200, {"models": [name]}
        check_model_name(found.model, name)
        if found.kind == "model":
            return 200, model_body(name)
        instances = parse_instances(self._body(), self.server.model.n_features)
        return 200, predictions_body(self.server.model.predict(instances))

    def _body(self) -> bytes:
        try:
            length = check_body_size(self.headers.get("Content-Length"),
                                     self.server.settings.max_body_bytes)
        except RequestError:
            self.close_connection = True  # the unread body would be taken for the next request
            raise
        return self.rfile.read(length)

    def _send(self, status: int, document: dict[str, Any]) -> None:
        payload = encode(document)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()  # flushes the head; the body follows in one write
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.settings.access_log:
            log.info("%s %s", self.address_string(), format % args)


def make_server(host: str, port: int, model: Model, settings: Settings) -> ModelHTTPServer:
    return ModelHTTPServer((host, port), model, settings)
