"""The serving-port application: route, forward, tee, answer, record (the hot path).

Everything the request path does is a handful of dict lookups, one hash when a unit id is
present, one write to a pooled backend connection, and one tuple appended for the off-path
telemetry flush.  Shadow copies go out after the primary and never hold it up.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from controller.contract.metrics import DEFAULT_UNIT_BUCKETS, MAX_UNIT_BUCKETS
from controller.router.assign import (
    CompiledTable,
    choose,
    choose_mirrors,
    cookie_value,
    unit_bucket_of,
)
from controller.router.credentials import SigningKeys
from controller.router.faults import FaultAction, choose_fault, in_scope
from controller.router.feedback import FeedbackSettings
from controller.router.join import TOKEN_HEADER, LabelJoin
from controller.router.server import HttpConnection
from controller.router.targets import Target, call_target
from controller.router.telemetry import LiveEvent, Telemetry
from controller.router.token import EXPERIMENT, NO_RULE, PENDING, head_json
from controller.router.upstream import ROUTER_RESOURCES, STREAMED, UpstreamConnection
from controller.router.wire import (
    Headers,
    Request,
    json_body,
    json_response,
    request_head,
    response_bytes,
    response_head,
)

_BP = 10_000
_BUCKET_NAMES = tuple(str(i) for i in range(MAX_UNIT_BUCKETS))


@dataclass(frozen=True, slots=True)
class ProxySettings:
    backend_timeout_s: float = 30.0
    shadow_timeout_s: float = 5.0
    max_shadow_inflight: int = 256
    feedback_path: bytes = b"/feedback"
    max_json_depth: int = 64  # nesting of client JSON (feedback, PUT /table); deeper is 400
    # Answers larger than this are streamed to the client, not stored nor compared.
    max_stored_response_bytes: int = 1 << 20
    stream_buffer_bytes: int = 256 << 10  # client write buffer that pauses a streamed answer
    # Hashed unit buckets per variant in the request metrics: the analysis estimates the
    # variance across them when assignment is sticky (bounded: 2..MAX_UNIT_BUCKETS).
    unit_buckets: int = DEFAULT_UNIT_BUCKETS


class ShadowJoin:
    """Pairs shadow answers with the primary answer, whichever arrives last."""

    __slots__ = ("pending", "prediction_id", "primary", "primary_done", "sent", "telemetry")

    def __init__(self, telemetry: Telemetry, prediction_id: str) -> None:
        self.telemetry = telemetry
        self.prediction_id = prediction_id
        self.primary: bytes | None = None
        self.primary_done = False
        self.pending: list[tuple[str, int, float, str, bytes]] = []
        self.sent: list[str] = []  # shadows a copy went to

    def token_shadows(self) -> tuple[tuple[str, str], ...]:
        """For the primary's token: each shadow's prediction if it answered already, PENDING
        if it has not yet (joined later only on this replica, see LateShadows)."""
        answered: dict[str, str] = {}
        for variant, status, _, reason, body in self.pending:
            if not reason and status < 300:
                answered[variant] = self.telemetry.code_of(variant, body)
            else:
                answered[variant] = NO_RULE  # failed: no prediction to judge
        return tuple((name, answered.get(name, PENDING)) for name in self.sent
                     if answered.get(name, PENDING) != NO_RULE)

    def set_primary(self, body: bytes | None) -> None:
        self.primary = body
        self.primary_done = True
        for item in self.pending:
            self._emit(*item)
        self.pending.clear()

    def shadow_result(self, variant: str, status: int, seconds: float, reason: str,
                      body: bytes) -> None:
        if self.primary_done:
            self._emit(variant, status, seconds, reason, body)
            if not reason and status < 300:
                self.telemetry.late_answers.append((self.prediction_id, variant, body))
        else:
            self.pending.append((variant, status, seconds, reason, body))

    def _emit(self, variant: str, status: int, seconds: float, reason: str, body: bytes) -> None:
        self.telemetry.shadow.append(
            (variant, status, seconds, reason, body, self.primary, self.prediction_id)
        )


class Exchange:
    """One live request: the answer goes to the client, the record to telemetry.

    An answer over max_stored_response_bytes is streamed (this is its upstream Sink): the head
    at once, then the body as it arrives; `done` then only ends it."""

    __slots__ = ("assignment", "conn", "join", "keep_alive", "prediction_id", "router",
                 "started", "stream_status", "streaming", "target", "unit_bucket")

    def __init__(self, router: Router, conn: HttpConnection, target: Target, prediction_id: str,
                 keep_alive: bool, started: float, join: ShadowJoin | None,
                 assignment: str = EXPERIMENT, unit_bucket: str = "0") -> None:
        self.router = router
        self.assignment = assignment
        self.unit_bucket = unit_bucket
        self.conn = conn
        self.target = target
        self.prediction_id = prediction_id
        self.keep_alive = keep_alive
        self.started = started
        self.join = join
        self.streaming = False
        self.stream_status = 0

    def stream_start(self, status: int, reason: bytes, headers: Headers, length: int,
                     source: UpstreamConnection) -> None:
        conn = self.conn
        self.streaming = True
        self.stream_status = status
        transport = conn.transport
        if conn.closed or transport is None:
            source.client_gone()
            return
        # Without a content-length the body ends with the connection (for any client version).
        self.keep_alive = self.keep_alive and length >= 0
        extra = (b"x-prediction-id: " + self.prediction_id.encode() + b"\r\n"
                 + self.target.response_tail)
        if status < 300:  # too large to keep: the token carries no prediction to judge
            extra += self._token_line(NO_RULE, ())
        transport.write(response_head(status, reason, headers, extra, length, self.keep_alive))
        conn.stream_from(source, self.router.settings.stream_buffer_bytes)

    def stream_data(self, data: bytes) -> None:
        transport = self.conn.transport
        if transport is not None and not self.conn.closed:
            transport.write(data)

    def _stream_done(self, error: str) -> None:
        router = self.router
        conn = self.conn
        conn.stream_ended()
        if error == STREAMED:
            conn.respond(b"", self.keep_alive)  # complete: next request, or close
        else:
            conn.abort()  # the backend failed mid-answer: the client must see it cut
        self._record((self.target.name, self.stream_status, router.clock() - self.started,
                      error, b"", self.prediction_id, self.started, self.unit_bucket))
        if self.join is not None:
            self.join.set_primary(None)  # not compared

    def done(self, status: int, reason: bytes, headers: Headers, body: bytes, error: str) -> None:
        if self.streaming:
            self._stream_done(error)
            return
        router = self.router
        elapsed = router.clock() - self.started
        target = self.target
        if error:
            reason = b""
            headers = [(b"content-type", b"application/json")]
            if error == ROUTER_RESOURCES:
                status = 503
                headers.append((b"retry-after", b"1"))
                body = json_body({"error": "router out of file descriptors or sockets",
                                  "variant": target.name})
            else:
                status = 504 if error == "timeout" else 502
                body = json_body({"error": f"backend {error} error", "variant": target.name})
        extra = (b"x-prediction-id: " + self.prediction_id.encode() + b"\r\n"
                 + target.response_tail)
        if not error and status < 300:
            shadows = self.join.token_shadows() if self.join is not None else ()
            extra += self._token_line(router.telemetry.code_of(target.name, body), shadows)
        self.conn.respond(response_bytes(status, reason, headers, body, extra, self.keep_alive),
                          self.keep_alive)
        self._record((target.name, status, elapsed, error, body, self.prediction_id,
                      self.started, self.unit_bucket))
        if self.join is not None:
            self.join.set_primary(body if not error and status < 300 else None)


    def _token_line(self, code: str, shadows: tuple[tuple[str, str], ...]) -> bytes:
        router = self.router
        name = self.target.name
        token = router.join.issue_fast(self.prediction_id, router.token_head(name, self.assignment),
                                       name, router.window, self.assignment == EXPERIMENT,
                                       int(self.unit_bucket), code, shadows)
        return TOKEN_HEADER + b": " + token + b"\r\n"

    def _record(self, event: LiveEvent) -> None:
        """Experiment traffic to the variant's series; forced and segment traffic apart."""
        telemetry = self.router.telemetry
        if self.assignment == EXPERIMENT:
            telemetry.live.append(event)
        else:
            telemetry.overrides.append((self.assignment, event[0], event[1]))


class Router:
    def __init__(self, telemetry: Telemetry, settings: ProxySettings,
                 rng: random.Random | None = None,
                 clock: Callable[[], float] | None = None,
                 join: LabelJoin | None = None) -> None:
        self.telemetry = telemetry
        self.settings = settings
        self.random = (rng or random.Random()).random
        self.loop = asyncio.get_running_loop()
        self.clock = clock or self.loop.time
        self.plan: CompiledTable | None = None
        self._sticky: bytes | None = None
        self._force: bytes | None = None
        self._fault_header: bytes | None = None
        self.targets: dict[str, Target] = {}
        self.shadow_inflight = 0
        self.join = join or LabelJoin(telemetry.metrics.registry,
                                      FeedbackSettings(unit_buckets=settings.unit_buckets),
                                      SigningKeys(None), telemetry.late)
        self.rollout = ""
        self.window = ""
        self._requests = 0  # spreads requests without a unit id over the unit buckets
        self._token_heads: dict[tuple[str, str], str] = {}

    def use(self, plan: CompiledTable, targets: dict[str, Target]) -> None:
        self.plan, self.targets = plan, targets
        self.rollout, self.window = plan.experiment, plan.window
        self.join.rollout = plan.experiment
        self._token_heads.clear()
        self._sticky = plan.sticky_header.encode() if plan.sticky_header else None
        self._force = plan.force_header.encode() if plan.force_header else None
        self._fault_header = next((t.fault_scope.header for t in targets.values()
                                   if t.fault_scope is not None and t.fault_scope.header), None)

    def token_head(self, variant: str, assignment: str) -> str:
        """The claims all tokens of `variant` share under this table (token.head_json)."""
        key = (variant, assignment)
        head = self._token_heads.get(key)
        if head is None:
            target = self.targets[variant]
            head = self._token_heads[key] = head_json(self.rollout, self.window, variant,
                                                      target.model, assignment)
        return head

    def rejected(self, reason: str) -> None:
        self.telemetry.metrics.rejected.inc((reason,))

    # -- request path ----------------------------------------------------------------------
    def handle(self, conn: HttpConnection, req: Request) -> None:
        plan = self.plan
        feedback_path = self.settings.feedback_path
        if req.url.startswith(feedback_path) and req.method == b"POST" and (
            req.path == feedback_path
        ):
            status, payload = self.feedback(req.body)
            conn.respond(json_response(status, payload, req.keep_alive), req.keep_alive)
            return
        if plan is None:
            self.rejected("no_table")
            conn.respond(json_response(503, {"error": "no routing table"}, req.keep_alive),
                         req.keep_alive)
            return
        unit, forced, fault_value = self._identity(plan, req)
        primary, assignment = choose(plan, unit, forced, int(self.random() * _BP))
        target = self.targets[primary]
        prediction_id = self.join.next_id()
        mirrors = (choose_mirrors(plan, primary, [int(self.random() * _BP) for _ in plan.mirrors])
                   if plan.mirrors else ())
        join = ShadowJoin(self.telemetry, prediction_id) if mirrors else None
        started = self.clock()
        head_only = req.method == b"HEAD"
        head = request_head(req, target.host)
        pid_line = b"x-prediction-id: " + prediction_id.encode() + b"\r\n"
        data = b"".join((head, pid_line, target.live_tail, b"\r\n", req.body))
        exchange = Exchange(self, conn, target, prediction_id, req.keep_alive, started, join,
                            assignment, self._unit_bucket(plan, unit))
        fault = self._draw_fault(target, unit, fault_value)
        call_target(target, data, head_only, self.settings.backend_timeout_s, fault,
                    exchange.done, self.settings.max_stored_response_bytes, exchange)
        for name in mirrors:
            self._tee(req, self.targets[name], pid_line, head_only, join, unit, fault_value)

    def _unit_bucket(self, plan: CompiledTable, unit: str | None) -> str:
        """The unit's hashed bucket; a request without a unit id is its own unit, so it
        goes to a bucket in turn (requests of a random split are independent)."""
        buckets = self.settings.unit_buckets
        if unit is None:
            self._requests += 1
            return _BUCKET_NAMES[self._requests % buckets]
        return _BUCKET_NAMES[unit_bucket_of(plan.salt, unit, buckets)]

    def _draw_fault(self, target: Target, unit: str | None,
                    fault_value: str | None) -> FaultAction | None:
        """The fault this request gets, if its variant injects one and it is in scope."""
        if target.fault is None or not in_scope(target.fault_scope, unit, fault_value):
            return None
        fault = choose_fault(target.fault, target.fraction_bp, int(self.random() * _BP))
        if fault is not None:
            self._count_fault(target.name, fault.kinds())
        return fault

    def _identity(self, plan: CompiledTable, req: Request
                  ) -> tuple[str | None, str | None, str | None]:
        """(unit id, forced variant, value of the fault scope's header) from the configured
        headers and cookies."""
        unit = forced = fault_value = None
        cookies = b""
        sticky, force, fault_header = self._sticky, self._force, self._fault_header
        for name, value in req.headers:
            if name == b"cookie":
                cookies = value if not cookies else cookies + b"; " + value
            elif name == sticky:
                unit = value.decode("latin-1")
            elif name == force:
                forced = value.decode("latin-1").strip()
            if name == fault_header:  # may also be the sticky or the force header
                fault_value = value.decode("latin-1").strip()
        if cookies and plan.needs_cookies:
            text = cookies.decode("latin-1")
            if unit is None and plan.sticky_cookie is not None:
                unit = cookie_value(text, plan.sticky_cookie)
            if forced is None and plan.force_cookie is not None:
                forced = cookie_value(text, plan.force_cookie)
        return unit, forced, fault_value

    def _tee(self, req: Request, target: Target, pid_line: bytes, head_only: bool,
             join: ShadowJoin | None, unit: str | None, fault_value: str | None) -> None:
        if self.shadow_inflight >= self.settings.max_shadow_inflight:
            self.telemetry.metrics.dropped.inc((target.name,))
            return
        self.shadow_inflight += 1
        if join is not None:
            join.sent.append(target.name)
        head = request_head(req, target.host)
        data = b"".join((head, pid_line, target.shadow_tail, b"\r\n", req.body))
        started = self.clock()

        def done(status: int, reason: bytes, headers: Headers, body: bytes, error: str) -> None:
            self.shadow_inflight -= 1
            if join is not None:
                join.shadow_result(target.name, status, self.clock() - started, error, body)

        fault = self._draw_fault(target, unit, fault_value)
        call_target(target, data, head_only, self.settings.shadow_timeout_s, fault, done,
                    self.settings.max_stored_response_bytes)

    def _count_fault(self, variant: str, kinds: list[str]) -> None:
        for kind in kinds:
            self.telemetry.metrics.faults.inc((variant, kind))

    # -- delayed feedback ------------------------------------------------------------------
    def feedback(self, body: bytes) -> tuple[int, dict[str, object]]:
        self.telemetry.flush()  # a late shadow answer may still sit in the unflushed batch
        status, payload = self.join.feedback(body, self.settings.max_json_depth)
        if status >= 400 and "reason" not in payload:  # token refusals are counted apart
            self.rejected("feedback")
        return status, payload
