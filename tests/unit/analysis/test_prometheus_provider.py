"""PrometheusProvider against a stub connection: parsing, and failures kept apart; the pure
parts of its limits (error excerpts, the answer's size and shape, the address policy)."""

from __future__ import annotations

import http.client
import ipaddress
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.analysis.provider import (
    BucketCounts,
    Counts,
    CountsQuery,
    Empty,
    HistogramQuery,
    ProviderError,
    Summary,
    SummaryQuery,
    Window,
)
from controller.providers.bounded_http import _result, _status_detail
from controller.providers.prometheus import PrometheusProvider
from controller.providers.prometheus_policy import (
    DETAIL_CHARS,
    EXCERPT_CHARS,
    ForbiddenAddressError,
    PrometheusPolicy,
    Target,
    excerpt,
    parse_address_rules,
    parse_target,
)

pytestmark = pytest.mark.unit

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(END - timedelta(seconds=90), END)
COUNTS = CountsQuery("errors", 'e{variant="{{variant}}"}[{{window}}]',
                     'r{variant="{{variant}}"}[{{window}}]')


def vector(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [END.timestamp(), value]}


class Stub:
    """Answers each query text from a table (a callable raises or computes)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def _reply(self, query: str, params: dict[str, Any] | None) -> Any:
        self.seen.append((query, params or {}))
        answer = self.answers.get(query, [])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def custom_query(self, query: str, params: dict[str, Any] | None = None,
                     timeout: int | None = None) -> Any:
        return self._reply(query, params)

    def custom_query_range(self, query: str, start_time: datetime, end_time: datetime,
                           step: str, params: dict[str, Any] | None = None,
                           timeout: int | None = None) -> Any:
        return self._reply(f"{query}@{step}", params)


def provider(answers: dict[str, Any]) -> tuple[PrometheusProvider, Stub]:
    stub = Stub(answers)
    return PrometheusProvider("http://prometheus:9090", 3, connection=stub), stub


def test_counts_are_evaluated_at_the_window_end_with_variant_and_window_filled_in() -> None:
    p, stub = provider({'e{variant="candidate"}[90s]': [vector("2.5")],
                        'r{variant="candidate"}[90s]': [vector("250.5")]})
    assert p.counts(COUNTS, "candidate", WINDOW) == Counts(2.5, 250.5)
    assert [q for q, _ in stub.seen] == ['r{variant="candidate"}[90s]',
                                          'e{variant="candidate"}[90s]']
    assert stub.seen[0][1] == {"time": END.timestamp(), "timeout": "3s"}


def test_no_series_is_empty_never_zero() -> None:
    p, _ = provider({})
    answer = p.counts(COUNTS, "stable", WINDOW)
    assert answer == Empty('r{variant="stable"}[90s]')
    assert isinstance(answer, Empty)
    assert answer.describe() == 'no series for r{variant="stable"}[90s]'


def test_an_empty_numerator_is_zero_only_where_the_template_says_so() -> None:
    answers = {'r{variant="stable"}[90s]': [vector("100")]}
    p, _ = provider(answers)
    assert isinstance(p.counts(COUNTS, "stable", WINDOW), Empty)
    router = CountsQuery("errors", COUNTS.successes, COUNTS.trials,
                         empty_successes_are_zero=True)
    assert p.counts(router, "stable", WINDOW) == Counts(0.0, 100.0)


@pytest.mark.parametrize(("value", "why"), [("NaN", "value nan"), ("+Inf", "value inf")])
def test_non_finite_values_are_empty(value: str, why: str) -> None:
    p, _ = provider({'r{variant="stable"}[90s]': [vector(value)]})
    answer = p.counts(COUNTS, "stable", WINDOW)
    assert isinstance(answer, Empty)
    assert answer.why == why


ErrorFactory = Callable[[], Exception]


@pytest.mark.parametrize(("error", "kind", "text"), [
    (lambda: TimeoutError("read timed out"), "timeout", "timed out: read timed out"),
    (lambda: ConnectionRefusedError("Connection refused"), "unreachable",
     "Prometheus unreachable: Connection refused"),
    (lambda: http.client.BadStatusLine("\x00garbage"), "query", "unexpected answer"),
    (lambda: ValueError("Expecting value"), "query", "unexpected answer"),
    (lambda: ProviderError("query", "q", "HTTP 400: bad"), "query", "query failed: HTTP 400"),
])
def test_failures_keep_their_kind(error: ErrorFactory, kind: str, text: str) -> None:
    p, _ = provider({'r{variant="stable"}[90s]': error()})
    with pytest.raises(ProviderError) as raised:
        p.counts(COUNTS, "stable", WINDOW)
    assert raised.value.kind == kind
    assert text in raised.value.describe()


def test_several_series_where_one_is_expected_is_a_query_error() -> None:
    p, _ = provider({'r{variant="stable"}[90s]': [vector("1", pod="a"), vector("2", pod="b")]})
    with pytest.raises(ProviderError, match=r"returned 2 series; aggregate it"):
        p.counts(COUNTS, "stable", WINDOW)


HIST = HistogramQuery("lat", 'b{variant="{{variant}}"}', 's{variant="{{variant}}"}')


def test_histogram_buckets_are_sorted_and_kept_cumulative() -> None:
    buckets = [vector("10.2", le="+Inf"), vector("4", le="0.1"), vector("3.9", le="0.05"),
               vector("3.95", le="0.25")]
    p, _ = provider({'b{variant="stable"}': buckets, 's{variant="stable"}': [vector("0.7")]})
    answer = p.histogram(HIST, "stable", WINDOW)
    assert answer == BucketCounts(((0.05, 3.9), (0.1, 4.0), (0.25, 4.0), (math.inf, 10.2)), 0.7)


def test_a_histogram_without_its_inf_bucket_is_empty() -> None:
    p, _ = provider({'b{variant="stable"}': [vector("1", le="0.1")]})
    answer = p.histogram(HIST, "stable", WINDOW)
    assert isinstance(answer, Empty)
    assert answer.why == "no +Inf bucket"


def test_bucket_series_must_be_summed_by_le() -> None:
    p, _ = provider({'b{variant="stable"}': [vector("1", le="0.1"), vector("2", le="0.1")]})
    with pytest.raises(ProviderError, match="sum by"):
        p.histogram(HIST, "stable", WINDOW)


def test_value_form_is_a_range_query_summarised() -> None:
    query = SummaryQuery("score", 'avg(s{variant="{{variant}}"})', 15)
    series = [{"metric": {}, "values": [[1, "0.5"], [16, "0.7"], [31, "NaN"]]}]
    p, _ = provider({'avg(s{variant="candidate"})@15s': series})
    assert p.summary(query, "candidate", WINDOW) == Summary(2.0, 1.2, 0.74)


# --- answers that are not what Prometheus sends: query errors, never a crash ---------------


@pytest.mark.parametrize("series", [
    [{}], [{"value": []}], [{"value": "12"}], ["x"], [{"value": [1, [2]]}],
])
def test_a_malformed_vector_is_a_query_error(series: list[Any]) -> None:
    p, _ = provider({'r{variant="stable"}[90s]': series})
    with pytest.raises(ProviderError) as raised:
        p.counts(COUNTS, "stable", WINDOW)
    assert raised.value.kind == "query"


@pytest.mark.parametrize("result", [
    {"x": 1}, [{"metric": {}}], [{"values": [[1, "2", 3]]}], [{"values": 5}], "abc"])
def test_a_malformed_matrix_is_a_query_error(result: Any) -> None:
    query = SummaryQuery("score", 'avg(s{variant="{{variant}}"})', 15)
    p, _ = provider({'avg(s{variant="candidate"})@15s': result})
    with pytest.raises(ProviderError) as raised:
        p.summary(query, "candidate", WINDOW)
    assert raised.value.kind == "query"


def test_bucket_labels_from_the_answer_are_never_echoed_whole() -> None:
    le = "0.1" + "\n\x1b[2J" + "9" * 10_000
    p, _ = provider({'b{variant="stable"}': [vector("1", le=le), vector("2", le=le)]})
    with pytest.raises(ProviderError) as raised:
        p.histogram(HIST, "stable", WINDOW)
    assert len(raised.value.detail) <= DETAIL_CHARS
    assert raised.value.detail.isprintable()


def test_the_rollouts_timeout_is_bounded_by_the_operators_maximum() -> None:
    stub = Stub({})
    p = PrometheusProvider("http://prometheus:9090", 60, PrometheusPolicy(max_timeout_seconds=7),
                           connection=stub)
    p.counts(COUNTS, "stable", WINDOW)
    assert p.timeout_seconds == 7
    assert stub.seen[0][1]["timeout"] == "7s"
    assert PrometheusProvider("http://p:9090", 3, PrometheusPolicy(max_timeout_seconds=7),
                              connection=stub).timeout_seconds == 3


# --- error texts ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("two\nlines\r\n\tand tabs", "two lines and tabs"),
    ("\x1b[31mred\x1b[0m", "?[31mred?[0m"),
    ("nul\x00 bell\x07", "nul? bell?"),
    ("rtl \u202eevil\u202c", "rtl ?evil?"),
    ("nbsp\u00a0and zero\u200bwidth", "nbsp and zero?width"),
])
def test_an_excerpt_is_one_printable_line(text: str, expected: str) -> None:
    assert excerpt(text) == expected


def test_an_excerpt_is_short() -> None:
    cut = excerpt("x" * 10_000)
    assert len(cut) == EXCERPT_CHARS
    assert cut.endswith("…")


def test_a_prometheus_error_body_gives_prometheus_message() -> None:
    body = b'{"status":"error","errorType":"bad_data","error":"1:5: parse error: \\n"}'
    assert _status_detail(400, body) == "HTTP 400: 1:5: parse error:"
    assert _status_detail(502, b"") == "HTTP 502"
    long = _status_detail(403, b"<h1>\x1b]0;owned\x07</h1>\n" + b"secret " * 5000)
    assert long.startswith("HTTP 403: <h1>?]0;owned?</h1> secret secret")
    assert len(long) <= len("HTTP 403: ") + EXCERPT_CHARS
    assert long.isprintable()


# --- the answer's size and shape ------------------------------------------------------------

ANSWER = b'{"status":"success","data":{"resultType":"vector","result":[]}}'


def test_an_answer_gives_its_data_result() -> None:
    assert _result("q", bytearray(ANSWER), 1024) == []


@pytest.mark.parametrize(("body", "why"), [
    (b"<html>not json</html>", "not JSON"),
    (b'{"status":"success"}', "no data.result"),
    (b"[1, 2]", "no data.result"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
])
def test_an_answer_that_is_not_prometheus_is_a_query_error(body: bytes, why: str) -> None:
    with pytest.raises(ProviderError, match=why) as raised:
        _result("q", bytearray(body), 1024 * 1024)
    assert raised.value.kind == "query"
    assert "not json" not in raised.value.detail  # the body is never echoed


def test_at_most_one_json_value_per_16_bytes_of_the_limit_is_parsed() -> None:
    """Parsed, 8 MiB of `[],` would take ~210 MiB; the count is taken on the raw bytes."""
    within = b'{"data":{"result":[' + b"[]," * 60 + b"[]]}}"
    assert len(_result("q", bytearray(within), 4096)) == 61  # 4096 / 16 = 256 values
    beyond = b'{"data":{"result":[' + b"[]," * 130 + b"[]]}}"
    with pytest.raises(ProviderError, match=r"more than 256 JSON values \(1/16 of "
                       r"MODELROLLOUT_PROMETHEUS_MAX_RESPONSE_BYTES\)"):
        _result("q", bytearray(beyond), 4096)


# --- the address policy ---------------------------------------------------------------------


@pytest.mark.parametrize(("address", "why"), [
    ("ftp://prometheus:21", "scheme must be http or https"),
    ("file:///etc/passwd", "scheme must be http or https"),
    ("gopher://x", "scheme must be http or https"),
    ("http://user:secret@prometheus:9090", "userinfo"),
    ("http://@prometheus:9090", "userinfo"),
    ("http://prometheus:9090/?x=1", "query or a fragment"),
    ("http://prometheus:9090#x", "query or a fragment"),
    ("http://prometheus:99999", "not a URL"),
    ("http://prometheus:9090/\r\nHost: evil", "control characters"),
    ("http:///path", "no host"),
])
def test_addresses_that_are_refused(address: str, why: str) -> None:
    with pytest.raises(ForbiddenAddressError, match=why):
        parse_target(address)


def test_a_refused_address_is_a_provider_error_naming_it_never_a_crash() -> None:
    p = PrometheusProvider("http://admin:pw@prometheus:9090", 2)
    with pytest.raises(ProviderError) as raised:
        p.counts(COUNTS, "stable", WINDOW)
    assert raised.value.kind == "unreachable"
    assert raised.value.describe() == (
        "Prometheus unreachable: address http://***@prometheus:9090 is forbidden: it carries "
        "userinfo (user:password@); Prometheus credentials are not supported in the address")


def test_a_long_address_is_shortened_so_that_the_reason_stays() -> None:
    address = "ftp://prometheus/" + "x" * 500
    with pytest.raises(ProviderError) as raised:
        PrometheusProvider(address, 2).counts(COUNTS, "stable", WINDOW)
    assert raised.value.detail.endswith("is forbidden: the scheme must be http or https")


@pytest.mark.parametrize(("address", "target"), [
    ("http://Prometheus.Monitoring:9090", Target("", False, "prometheus.monitoring", 9090, "")),
    ("https://prom.example.", Target("", True, "prom.example", 443, "")),
    ("http://10.0.0.5", Target("", False, "10.0.0.5", 80, "")),
    ("http://[fd00::5]:9090/prometheus/", Target("", False, "fd00::5", 9090, "/prometheus")),
])
def test_addresses_that_are_used(address: str, target: Target) -> None:
    parsed = parse_target(address)
    assert (parsed.tls, parsed.host, parsed.port, parsed.path) == (
        target.tls, target.host, target.port, target.path)


def test_address_rules_of_every_form() -> None:
    rules = parse_address_rules(" prometheus.monitoring , Thanos:10902,10.0.0.0/8, 10.1.2.3:9090,"
                                "fd00::/8,[::1]:9090, ::2,")
    assert [(r.host, r.port, str(r.network) if r.network else None) for r in rules] == [
        ("prometheus.monitoring", None, None), ("thanos", 10902, None),
        (None, None, "10.0.0.0/8"), (None, 9090, "10.1.2.3/32"), (None, None, "fd00::/8"),
        (None, 9090, "::1/128"), (None, None, "::2/128")]
    assert parse_address_rules("") == ()


@pytest.mark.parametrize("entry", [
    "10.0.0.1/8", "10.0.0.0/33", "host:0", "host:70000", "host:port", "under score.x",
    "[::1]", "[zz]:9090", "http://prometheus", "a..b", "-bad.example"])
def test_address_rules_that_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(entry))):
        parse_address_rules(f"ok.example,{entry}")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def test_without_lists_every_address_is_permitted() -> None:
    policy = PrometheusPolicy()
    assert policy.refusal("anything", 80, None) is None
    assert policy.refusal("anything", 80, _ip("169.254.169.254")) is None


def test_a_denied_cidr_is_checked_against_the_resolved_address() -> None:
    policy = PrometheusPolicy(denied=parse_address_rules("169.254.0.0/16,10.96.0.1:443"))
    assert policy.refusal("metadata.example", 80, None) is None  # decided once resolved
    refusal = policy.refusal("metadata.example", 80, _ip("169.254.169.254"))
    assert refusal == ("169.254.169.254 matches MODELROLLOUT_PROMETHEUS_DENIED entry "
                       "169.254.0.0/16")
    assert policy.refusal("kubernetes.default", 443, _ip("10.96.0.1")) is not None
    assert policy.refusal("other", 9090, _ip("10.96.0.1")) is None  # the port differs
    assert policy.refusal("v6", 80, _ip("2001:db8::1")) is None


def test_an_allowlist_permits_only_what_it_names_and_the_denylist_wins() -> None:
    policy = PrometheusPolicy(
        allowed=parse_address_rules("prometheus.monitoring:9090,10.20.0.0/16"),
        denied=parse_address_rules("10.20.30.0/24,bad.monitoring"))
    assert policy.refusal("prometheus.monitoring", 9090, None) is None
    assert policy.refusal("prometheus.monitoring", 9090, _ip("192.168.1.1")) is None
    assert policy.refusal("prometheus.monitoring", 9090, _ip("10.20.30.4")) is not None
    assert policy.refusal("elsewhere", 9090, _ip("10.20.1.1")) is None
    refusal = policy.refusal("elsewhere", 9090, _ip("192.168.1.1"))
    assert refusal == "192.168.1.1 (port 9090) matches no MODELROLLOUT_PROMETHEUS_ALLOWED entry"
    assert policy.refusal("bad.monitoring", 9090, None) is not None  # before any DNS


def test_an_allowlist_of_names_only_refuses_other_names_before_resolving() -> None:
    policy = PrometheusPolicy(allowed=parse_address_rules("prometheus.monitoring"))
    assert policy.refusal("evil.example", 80, None) == (
        "evil.example (port 80) matches no MODELROLLOUT_PROMETHEUS_ALLOWED entry")


def test_a_refused_name_is_refused_before_any_dns_or_connection() -> None:
    policy = PrometheusPolicy(denied=parse_address_rules("no-such-host.invalid"))
    p = PrometheusProvider("http://no-such-host.invalid:9090", 2, policy)
    with pytest.raises(ProviderError) as raised:
        p.counts(COUNTS, "stable", WINDOW)
    assert raised.value.kind == "unreachable"
    assert raised.value.detail == (
        "address http://no-such-host.invalid:9090 is forbidden: no-such-host.invalid matches "
        "MODELROLLOUT_PROMETHEUS_DENIED entry no-such-host.invalid")
