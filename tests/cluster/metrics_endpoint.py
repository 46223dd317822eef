"""A minimal Prometheus exposition endpoint whose counters a test sets, served on loopback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MetricsEndpoint:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, float] = {}
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = endpoint.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def set(self, series: str, value: float) -> None:
        """`series` is a sample's name with labels, e.g. 'requests_total{variant="stable"}'."""
        with self._lock:
            self._samples[series] = value

    def render(self) -> str:
        with self._lock:
            return "".join(f"{series} {value}\n" for series, value in sorted(self._samples.items()))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
