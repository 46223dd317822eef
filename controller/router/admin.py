"""The admin/metrics port: Prometheus exposition, health, and the routing table.

Not published by the client Service (the operator gives it a Service of its own and a
NetworkPolicy). `/metrics`, `/healthz` and `/readyz` are open to whoever reaches the port
(Prometheus and the kubelet); `/table` needs the bearer token (credentials.AdminToken), and a
router that follows a ConfigMap refuses `PUT /table`: the ConfigMap is the only source of its
tables, so no client can push a version that would make the operator's next table stale.
"""

from __future__ import annotations

from controller.router.credentials import AdminToken
from controller.router.proxy import Router
from controller.router.server import HttpConnection
from controller.router.source import TableHolder
from controller.router.telemetry import Telemetry
from controller.router.wire import Request, json_response, json_too_deep, text_response

PROMETHEUS_TEXT = b"text/plain; version=0.0.4; charset=utf-8"


class AdminApp:
    def __init__(self, router: Router, holder: TableHolder, telemetry: Telemetry,
                 token: AdminToken, table_writes: bool) -> None:
        self.router = router
        self.holder = holder
        self.telemetry = telemetry
        self.token = token
        self.table_writes = table_writes

    def rejected(self, reason: str) -> None:
        self.telemetry.metrics.rejected.inc(("admin_" + reason,))

    def handle(self, conn: HttpConnection, req: Request) -> None:
        conn.respond(self.answer(req), req.keep_alive)

    def answer(self, req: Request) -> bytes:
        method, path, keep = req.method, req.path, req.keep_alive
        if path == b"/metrics" and method == b"GET":
            self.telemetry.flush()
            return text_response(200, self.telemetry.metrics.registry.render(), PROMETHEUS_TEXT,
                                 keep)
        if path == b"/healthz" and method == b"GET":
            return json_response(200, {"status": "ok"}, keep)
        if path == b"/readyz" and method == b"GET":
            ready = self.holder.current is not None
            return json_response(200 if ready else 503, {"ready": ready}, keep)
        needs_token = path == b"/table" and method in (b"GET", b"PUT")
        if needs_token and not self.token.allows(req.header(b"authorization")):
            self.rejected("unauthorized")
            return json_response(401, {"error": "/table needs Authorization: Bearer <token>"},
                                 keep, b"www-authenticate: Bearer\r\n")
        if path == b"/table" and method == b"GET":
            table = self.holder.current
            if table is None:
                return json_response(404, {"error": "no routing table"}, keep)
            return json_response(200, table.model_dump(mode="json", by_alias=True), keep)
        if path == b"/table" and method == b"PUT":
            if not self.table_writes:
                self.rejected("table_write")
                return json_response(403, {"error": "this router follows a ConfigMap: its "
                                                    "tables come only from there"}, keep)
            depth = self.router.settings.max_json_depth
            if json_too_deep(req.body, depth):
                return json_response(400, {"error": f"JSON nested deeper than {depth} levels"},
                                     keep)
            errors = self.holder.offer(req.body, "admin endpoint")
            if errors:
                return json_response(422, {"errors": errors}, keep)
            version = self.holder.current.version if self.holder.current else None
            return json_response(200, {"version": version}, keep)
        if path == self.router.settings.feedback_path and method == b"POST":
            status, payload = self.router.feedback(req.body)
            return json_response(status, payload, keep)
        return json_response(404, {"error": "not found"}, keep)
