"""Router metrics (names from controller.contract.metrics) and the off-path event flush.

The request path only appends one tuple to a list; `Telemetry.flush` (run every 100 ms, before
each scrape and before each feedback join) turns the batch into metric updates, prediction
counts, shadow comparisons, forced/segment traffic (kept apart) and late shadow answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.contract import metrics as names
from controller.contract.jsonpath import Step
from controller.contract.table import CANDIDATE, STABLE, RoutingTable, table_digest
from controller.router.comparator import (
    as_number,
    compare,
    is_missing,
    label_text,
    prediction_of,
)
from controller.router.feedback import LateShadows
from controller.router.metrics import Counter, Gauge, Histogram, Registry
from controller.router.token import MISSING, NO_RULE, prediction_code
from controller.router.upstream import ROUTER_RESOURCES, STREAMED

log = logging.getLogger("modelrouter")
MAX_LABELS_PER_VARIANT = 64
# Classifiers repeat the same small response bodies: remember their parsed predictions.
PARSE_CACHE_ENTRIES = 4096
PARSE_CACHE_MAX_BODY = 1024
OTHER_LABEL = "__other__"
# Refusals worth a log line, rate-limited to one line per reason per interval (the counts are
# in modelrouter_rejected_requests_total).
LOGGED_REFUSALS = {
    "overload": "connections over --max-connections refused with 503 on the serving port",
    "admin_overload": "connections over --max-connections refused with 503 on the admin port",
    ROUTER_RESOURCES: "requests refused with 503: the router is out of file descriptors or "
                      "sockets (raise its fd limit, or lower --max-connections)",
}
REFUSAL_LOG_INTERVAL_S = 10.0
# Router-only series (the analysis does not query them), named like the contract's.
NOT_STORED = names.PREFIX + "responses_not_stored_total"

# (variant, status, seconds, error reason or "", body, prediction id, start time, unit bucket)
LiveEvent = tuple[str, int, float, str, bytes, str, float, str]
# (variant, status, seconds, error reason or "", shadow body, primary body or None, id)
ShadowEvent = tuple[str, int, float, str, bytes, bytes | None, str]


@dataclass(frozen=True, slots=True)
class PredictionRule:
    steps: tuple[Step, ...]
    mode: str
    tolerance_ppm: int


def code_class(status: int) -> str:
    return f"{status // 100}xx"


def rules_from(table: RoutingTable) -> dict[str, PredictionRule]:
    from controller.contract.jsonpath import parse_path

    rules = {}
    for name in table.variant_names():
        spec = table.variant(name).prediction
        if spec is not None:
            rules[name] = PredictionRule(parse_path(spec.path), spec.mode, spec.tolerance_ppm)
    return rules


class RouterMetrics:
    def __init__(self) -> None:
        r = self.registry = Registry()
        v = (names.VARIANT_LABEL,)
        # Live requests per hashed unit bucket: the analysis's unit-level variance.
        self.requests = r.add(Counter(names.REQUESTS,
                                      "Proxied requests by variant, status class and unit "
                                      "bucket.",
                                      (names.VARIANT_LABEL, names.CODE_LABEL,
                                       names.UNIT_BUCKET_LABEL)))
        self.errors = r.add(Counter(names.ERRORS,
                                    "Failed requests; reason is 5xx, connect or timeout.",
                                    (names.VARIANT_LABEL, names.REASON_LABEL)))
        self.duration = r.add(Histogram(names.DURATION,
                                        "Time from full request to full response.",
                                        (names.VARIANT_LABEL, names.UNIT_BUCKET_LABEL),
                                        names.LATENCY_BUCKETS))
        self.predictions = r.add(Counter(names.PREDICTIONS,
                                         "Predicted labels (exact-mode variants).",
                                         (names.VARIANT_LABEL, names.LABEL_LABEL)))
        self.scores = r.add(Histogram(names.SCORES,
                                      "Predicted scores (numeric-mode variants).", v,
                                      names.SCORE_BUCKETS))
        self.shadow_requests = r.add(Counter(names.SHADOW_REQUESTS,
                                             "Shadow copies by status class (a connect "
                                             "failure or timeout as 5xx).",
                                             (names.VARIANT_LABEL, names.CODE_LABEL)))
        self.shadow_duration = r.add(Histogram(names.SHADOW_DURATION, "Latency of shadow copies.",
                                               v, names.LATENCY_BUCKETS))
        self.comparisons = r.add(Counter(names.COMPARISONS, "Shadow vs primary predictions.",
                                         (names.VARIANT_LABEL, names.RESULT_LABEL)))
        self.dropped = r.add(Counter(names.SHADOW_DROPPED,
                                     "Shadow copies not sent: in-flight bound reached.", v))
        self.faults = r.add(Counter(names.FAULTS,
                                    "Injected faults by kind (delay, error, corrupt).",
                                    (names.VARIANT_LABEL, names.KIND_LABEL)))
        self.rejected = r.add(Counter(names.REJECTED, "Requests refused by the router itself.",
                                      (names.REASON_LABEL,)))
        self.table_version = r.add(Gauge(names.TABLE_VERSION,
                                         "Version of the applied routing table."))
        self.table_rejected = r.add(Counter(names.TABLE_REJECTED,
                                            "Routing tables refused (invalid or stale).",
                                            (names.REASON_LABEL,)))
        self.table_info = r.add(Gauge(names.TABLE_INFO,
                                      "1 for the applied routing table: its version and digest.",
                                      (names.VERSION_LABEL, names.DIGEST_LABEL)))
        self.variant_info = r.add(Gauge(names.VARIANT_INFO, "1 per variant of the applied table.",
                                        (names.VARIANT_LABEL, names.ROLE_LABEL, names.MODEL_LABEL)))
        self.weight = r.add(Gauge(names.WEIGHT,
                                  "Live weight of each serving variant (of 10000).", v))
        self.override_requests = r.add(Counter(
            names.OVERRIDE_REQUESTS, "Forced or segment-pinned requests (not in the experiment).",
            (names.VARIANT_LABEL, names.ASSIGNMENT_LABEL, names.CODE_LABEL)))
        self.not_stored = r.add(Counter(NOT_STORED,
                                        "Answers over --max-stored-response-bytes, streamed "
                                        "or drained: not stored nor compared.", v))

    def show_table(self, table: RoutingTable) -> None:
        self.table_version.set((), table.version)
        self.table_info.clear()
        self.table_info.set((str(table.version), table_digest(table)), 1)
        self.variant_info.clear()
        self.weight.clear()
        weight = table.candidate.weight_bp if table.candidate else 0
        self.weight.set((STABLE,), 10_000 - weight)
        if table.candidate is not None:
            self.weight.set((CANDIDATE,), weight)
        for name in table.variant_names():
            role = name if name in (STABLE, CANDIDATE) else "shadow"
            self.variant_info.set((name, role, table.variant(name).model), 1)


class Telemetry:
    def __init__(self, metrics: RouterMetrics, late: LateShadows | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.metrics = metrics
        self.late = late if late is not None else LateShadows(100_000, 3600.0)
        self.wall_clock = wall_clock
        self.live: list[LiveEvent] = []
        self.shadow: list[ShadowEvent] = []
        # Forced and segment traffic: (assignment, variant, status); counted apart.
        self.overrides: list[tuple[str, str, int]] = []
        # Shadow answers that came after the primary's: (token id, variant, body).
        self.late_answers: list[tuple[str, str, bytes]] = []
        self.rules: dict[str, PredictionRule] = {}
        self._labels_seen: dict[str, set[str]] = {}
        self._parsed: dict[tuple[str, bytes], object] = {}
        self._refusals_logged: dict[str, float] = {}
        self._next_refusal_log = 0.0

    def use_table(self, table: RoutingTable) -> None:
        self.flush()  # events of the old table are judged by the old rules
        self.rules = rules_from(table)
        self._parsed.clear()
        self.metrics.show_table(table)

    def code_of(self, variant: str, body: bytes) -> str:
        """The prediction of `variant` in `body` as a token carries it (token.py)."""
        rule = self.rules.get(variant)
        if rule is None:
            return NO_RULE
        value = self._prediction(variant, body, rule)
        if is_missing(value):
            return MISSING
        return prediction_code(value, rule.mode, rule.tolerance_ppm)

    def flush(self) -> None:
        live, self.live = self.live, []
        shadow, self.shadow = self.shadow, []
        for event in live:
            self._live(*event)
        for sevent in shadow:
            self._shadow(*sevent)
        overrides, self.overrides = self.overrides, []
        for assignment, variant, status in overrides:
            self.metrics.override_requests.inc((variant, assignment, code_class(status)))
        late, self.late_answers = self.late_answers, []
        if late:
            now = self.wall_clock()
            for token_id, variant, body in late:
                self.late.put(token_id, variant, self.code_of(variant, body), now)
        self._log_refusals()

    def _log_refusals(self) -> None:
        now = time.monotonic()
        if now < self._next_refusal_log:
            return
        rejected = self.metrics.rejected
        for reason, what in LOGGED_REFUSALS.items():
            count = rejected.get((reason,))
            new = count - self._refusals_logged.get(reason, 0.0)
            if new > 0:
                self._refusals_logged[reason] = count
                self._next_refusal_log = now + REFUSAL_LOG_INTERVAL_S
                log.warning("%d %s since the last report (%d in all)", new, what, count)

    def _live(self, variant: str, status: int, seconds: float, reason: str, body: bytes,
              prediction_id: str, started: float, unit_bucket: str) -> None:
        m = self.metrics
        if reason == ROUTER_RESOURCES:  # the router's failure: not the variant's request
            m.rejected.inc((reason,))
            return
        m.requests.inc((variant, code_class(status), unit_bucket))
        m.duration.observe((variant, unit_bucket), seconds)
        if reason or status >= 500:
            if reason == STREAMED:  # passed through whole, too large to store
                m.not_stored.inc((variant,))
                reason = ""
                if status < 500:
                    return
            m.errors.inc((variant, reason or "5xx"))
            return
        if status < 300:
            self._count_prediction(variant, body)

    def _shadow(self, variant: str, status: int, seconds: float, reason: str, body: bytes,
                primary: bytes | None, prediction_id: str) -> None:
        m = self.metrics
        if reason == ROUTER_RESOURCES:  # a copy the router could not send: nothing to judge
            m.rejected.inc((reason,))
            return
        if reason == STREAMED:  # answered whole but too large to keep: not compared
            m.not_stored.inc((variant,))
            m.shadow_requests.inc((variant, code_class(status)))
            m.shadow_duration.observe((variant,), seconds)
            if status >= 500:
                m.errors.inc((variant, "5xx"))
            return
        # Every copy is counted, a failure to connect or a timeout as 5xx (what the live path
        # answers, 502/504): the shadow's error rate needs its failures in the denominator.
        m.shadow_requests.inc((variant, code_class(status) if not reason else "5xx"))
        m.shadow_duration.observe((variant,), seconds)
        if reason:
            m.errors.inc((variant, reason))
        elif status >= 500:
            m.errors.inc((variant, "5xx"))
        ok = not reason and status < 300
        if ok:
            self._count_prediction(variant, body)
        rule = self.rules.get(variant)
        if rule is None or primary is None:
            return  # nothing to compare with: no rule, or the primary itself failed
        result = "error"
        if ok:
            result = compare(primary, body, rule.steps, rule.mode, rule.tolerance_ppm)
        m.comparisons.inc((variant, result))

    def _prediction(self, variant: str, body: bytes, rule: PredictionRule) -> object:
        if len(body) > PARSE_CACHE_MAX_BODY:
            return prediction_of(body, rule.steps)
        key = (variant, body)
        cache = self._parsed
        if key in cache:
            return cache[key]
        if len(cache) >= PARSE_CACHE_ENTRIES:
            cache.clear()
        value = cache[key] = prediction_of(body, rule.steps)
        return value

    def _count_prediction(self, variant: str, body: bytes) -> None:
        rule = self.rules.get(variant)
        if rule is None:
            return
        value = self._prediction(variant, body, rule)
        if is_missing(value):
            return
        if rule.mode == "numeric":
            number = as_number(value)
            if number is not None:
                self.metrics.scores.observe((variant,), number)
            return
        label = label_text(value)
        seen = self._labels_seen.setdefault(variant, set())
        if label not in seen:
            # Bound label cardinality: a model returning free text must not blow up Prometheus.
            if len(seen) >= MAX_LABELS_PER_VARIANT:
                label = OTHER_LABEL
            else:
                seen.add(label)
        self.metrics.predictions.inc((variant, label))

