"""The provider against hostile "Prometheus" servers on 127.0.0.1 (tests/.../hostile.py): a
huge answer, a trickle, a long error page, forbidden addresses, a redirect. Each ends as a
ProviderError of a known kind, within the query's deadline and a bounded amount of memory."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controller.analysis.analyzer import PrometheusAnalyzer
from controller.analysis.provider import CountsQuery, ProviderError, Window
from controller.api.spec import ModelRolloutSpec
from controller.api.status import ModelRolloutStatus
from controller.providers.prometheus import PrometheusProvider, prometheus_provider
from controller.providers.prometheus_policy import (
    DEFAULT_MAX_RESPONSE_BYTES,
    PrometheusPolicy,
    parse_address_rules,
)
from controller.rollout.conditions import rfc3339
from controller.rollout.model import Observation
from controller.rollout.ref import RolloutRef
from tests.integration.analysis import hostile
from tests.integration.analysis.hostile import MiB

pytestmark = pytest.mark.integration

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(END - timedelta(seconds=90), END)
QUERY = CountsQuery("requests", None, "sum(requests)")
EMPTY = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
ONE = b'{"status":"success","data":{"resultType":"vector","result":[' \
      b'{"metric":{},"value":[1772366400,"42"]}]}}'


def ask(address: str, timeout: int = 2, policy: PrometheusPolicy | None = None) -> Any:
    return PrometheusProvider(address, timeout, policy).counts(QUERY, "stable", WINDOW)


def failure(address: str, timeout: int = 2, policy: PrometheusPolicy | None = None
            ) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        ask(address, timeout, policy)
    return raised.value


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {key} in /proc/self/status")


@contextmanager
def peak_growth_mib() -> Iterator[list[float]]:
    """This process's peak RSS growth over the block, in MiB: the kernel's peak mark is reset
    first (/proc/self/clear_refs). Where it cannot be, Python's own allocations' peak."""
    grown: list[float] = []
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        tracemalloc.start()
        try:
            yield grown
        finally:
            grown.append(tracemalloc.get_traced_memory()[1] / MiB)
            tracemalloc.stop()
        return
    before = _status_mib("VmRSS")
    yield grown
    grown.append(_status_mib("VmHWM") - before)


# --- size -----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["until-close", "chunked"])
def test_a_100_mb_answer_is_refused_past_the_limit_in_bounded_memory(chunked: bool) -> None:
    with hostile.hostile(hostile.huge(100 * MiB, chunked=chunked)) as server:
        with peak_growth_mib() as grown:
            error = failure(server.url, timeout=30)
        (exchange,) = server.wait_exchanges()
    assert grown[0] < 64, f"RSS grew {grown[0]:.0f} MiB"
    assert error.kind == "query"
    assert error.detail == ("response larger than 8 MiB "
                            "(MODELROLLOUT_PROMETHEUS_MAX_RESPONSE_BYTES); "
                            "aggregate the query to one series")
    assert exchange.ended == "client gone"  # it stopped reading: the rest was never sent
    assert exchange.sent < 100 * MiB


def test_a_declared_length_past_the_limit_is_refused_before_reading() -> None:
    with hostile.hostile(hostile.declared(DEFAULT_MAX_RESPONSE_BYTES + 1)) as server:
        error = failure(server.url)
    assert error.kind == "query"
    assert "response larger than 8 MiB" in error.detail


def test_the_limit_is_the_operators_setting() -> None:
    policy = PrometheusPolicy(max_response_bytes=64 * 1024)
    with hostile.hostile(hostile.huge(1 * MiB)) as server:
        error = failure(server.url, policy=policy)
    assert "response larger than 64 KiB" in error.detail
    with hostile.hostile(hostile.answer(ONE)) as server:
        assert ask(server.url, policy=policy).trials == 42.0


def test_a_dense_answer_under_the_limit_is_refused_before_parsing() -> None:
    """8 MiB of `[],` parses to ~210 MiB of lists: refused on the count of its values."""
    head = b'{"status":"success","data":{"resultType":"vector","result":['
    body = head + b"[]," * ((DEFAULT_MAX_RESPONSE_BYTES - len(head) - 10) // 3) + b"[]]}}"
    with hostile.hostile(hostile.answer(body)) as server, peak_growth_mib() as grown:
        error = failure(server.url, timeout=30)
    assert grown[0] < 64, f"RSS grew {grown[0]:.0f} MiB"
    assert error.kind == "query"
    assert "more than 524288 JSON values" in error.detail


# --- time -----------------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", [
    hostile.trickle(0.2), hostile.trickle(0.2, headers_too=True), hostile.tls_trickle(0.2)],
    ids=["body", "status-line", "tls-handshake"])
def test_a_trickle_ends_at_the_total_deadline(behaviour: hostile.Behaviour) -> None:
    """One byte per 0.2 s never trips a per-read timeout; the total deadline (2 s) ends it."""
    with hostile.hostile(behaviour) as server:
        scheme = "https" if behaviour.__qualname__.startswith("tls_trickle") else "http"
        error = failure(server.url.replace("http", scheme), timeout=2)
        (exchange,) = server.wait_exchanges()
    assert error.kind == "timeout"
    assert error.describe().startswith("timed out: no complete answer within 2s")
    assert exchange.ended == "client gone"  # the provider hung up, the server did not stop
    # The server paces at >= 0.2 s a byte, and would go on for 60 s (300 bytes): fewer than
    # 100 means the provider hung up within 20 s (a bound ten times the deadline, not a time).
    assert exchange.sent < 100


def test_the_operators_maximum_bounds_the_rollouts_timeout() -> None:
    policy = PrometheusPolicy(max_timeout_seconds=1)
    with hostile.hostile(hostile.trickle(0.2)) as server:
        error = failure(server.url, timeout=60, policy=policy)
        (exchange,) = server.wait_exchanges()
    assert error.kind == "timeout"
    assert exchange.sent < 100  # as above: not the rollout's 60 s
    assert "within 1s" in error.detail
    assert "MODELROLLOUT_PROMETHEUS_MAX_TIMEOUT_SECONDS=1" in error.detail


def _spec(address: str) -> ModelRolloutSpec:
    return ModelRolloutSpec.model_validate({
        "template": {"spec": {"containers": [{"name": "server", "image": "model:2"}]}},
        "port": 8080,
        "strategy": {"canary": {"steps": [{"setWeight": 20},
                                          {"analysis": {"minSamples": 2000}}]}},
        "analysis": {"prometheus": {"address": address, "timeoutSeconds": 30},
                     "metrics": [{"name": "errors", "template": "errorRate"}]}})


def _observation(address: str) -> Observation:
    status = ModelRolloutStatus(stable_revision="r1", candidate_revision="r2",
                                current_step_index=1, step_started_at=rfc3339(WINDOW.start))
    return Observation(spec=_spec(address), status=status, generation=1, now=WINDOW.end)


def test_a_slow_prometheus_does_not_hold_another_rollouts_analysis() -> None:
    """The operator's one analyzer serves every rollout's reconcile thread: while one rollout's
    Prometheus holds its query, another rollout's analysis runs to its end."""
    analyzer = PrometheusAnalyzer(prometheus_provider, min_window_seconds=2)
    release = threading.Event()
    outcomes: dict[str, Any] = {}
    with hostile.hostile(hostile.held(release, EMPTY)) as slow, \
            hostile.hostile(hostile.answer(EMPTY)) as fast:
        held = threading.Thread(target=lambda: outcomes.update(slow=analyzer.evaluate(
            RolloutRef("slow", "a", "u1", 8080), _observation(slow.url))))
        held.start()
        try:
            slow.wait_requests()
            outcomes["fast"] = analyzer.evaluate(RolloutRef("fast", "b", "u2", 8080),
                                                 _observation(fast.url))
            assert held.is_alive(), "the slow query ended before the other analysis"
        finally:
            release.set()
            held.join(timeout=60)
    assert outcomes["fast"].verdict == "NoData"
    assert outcomes["slow"].verdict == "NoData"


# --- what an answer may say -----------------------------------------------------------------


def test_a_long_error_page_is_cut_to_a_short_sanitized_excerpt() -> None:
    page = (b"<html>\x1b[31mForbidden\x1b[0m\r\n\x00\x07\xe2\x80\xae"
            + b"internal detail\n" * 5000 + b"</html>")
    with hostile.hostile(hostile.status(403, page)) as server:
        error = failure(server.url)
    assert error.kind == "query"
    described = error.describe()
    assert described.startswith("query failed: HTTP 403: <html>?[31mForbidden?[0m ???internal")
    assert len(error.detail) <= len("HTTP 403: ") + 200
    assert described.isprintable()
    assert "\n" not in str(error)
    assert "\r" not in str(error)


def test_prometheus_own_error_text_is_kept() -> None:
    body = (b'{"status":"error","errorType":"bad_data",'
            b'"error":"1:5: parse error: unexpected \\"(\\""}')
    with hostile.hostile(hostile.status(400, body, "application/json")) as server:
        error = failure(server.url)
    assert error.describe() == 'query failed: HTTP 400: 1:5: parse error: unexpected "("'


def test_a_redirect_is_not_followed() -> None:
    with hostile.hostile(hostile.answer(ONE)) as elsewhere:
        location = f"{elsewhere.url}/api/v1/query".encode()
        with hostile.hostile(hostile.status(302, b"", extra=b"Location: " + location)) as server:
            error = failure(server.url)
        assert elsewhere.connections == 0
    assert (error.kind, error.detail) == ("query", "HTTP 302 (redirects are not followed)")


def test_an_answer_that_is_not_prometheus_is_not_echoed() -> None:
    with hostile.hostile(hostile.answer(b'{"secret": "s3cr3t-token"}')) as server:
        error = failure(server.url)
    assert error.kind == "query"
    assert "s3cr3t" not in str(error)


# --- where a query may go -------------------------------------------------------------------


def _policy(allowed: str = "", denied: str = "") -> PrometheusPolicy:
    return PrometheusPolicy(allowed=parse_address_rules(allowed),
                            denied=parse_address_rules(denied))


def test_a_denied_cidr_is_never_connected_to() -> None:
    with hostile.hostile(hostile.answer(ONE)) as server:
        error = failure(server.url, policy=_policy(denied="10.0.0.0/8,127.0.0.0/8"))
        assert server.connections == 0
    assert error.kind == "unreachable"
    assert error.describe() == (
        f"Prometheus unreachable: address {server.url} is forbidden: 127.0.0.1 matches "
        "MODELROLLOUT_PROMETHEUS_DENIED entry 127.0.0.0/8")


def test_a_name_is_checked_by_what_it_resolves_to() -> None:
    with hostile.hostile(hostile.answer(ONE)) as server:
        address = f"http://localhost:{server.port}"
        error = failure(address, policy=_policy(allowed="localhost",
                                                denied="127.0.0.0/8,::1/128"))
        assert server.connections == 0
    assert error.kind == "unreachable"
    assert f"address {address} is forbidden: " in error.detail
    assert "127.0.0.1 matches MODELROLLOUT_PROMETHEUS_DENIED entry 127.0.0.0/8" in error.detail


def test_an_allowlist_admits_only_its_entries() -> None:
    with hostile.hostile(hostile.answer(ONE)) as server:
        for allowed in ("127.0.0.0/8", f"127.0.0.1:{server.port}", "localhost,127.0.0.1"):
            assert ask(server.url, policy=_policy(allowed=allowed)).trials == 42.0, allowed
        for allowed in ("10.0.0.0/8", "127.0.0.1:1", "prometheus.monitoring"):
            error = failure(server.url, policy=_policy(allowed=allowed))
            assert error.kind == "unreachable", allowed
            assert error.detail.endswith("matches no MODELROLLOUT_PROMETHEUS_ALLOWED entry")
        assert server.connections == 3


@pytest.mark.parametrize("address", ["http://user:pw@127.0.0.1:{port}",
                                     "ftp://127.0.0.1:{port}", "http://127.0.0.1:{port}/?a=b"])
def test_a_refused_address_is_never_connected_to(address: str) -> None:
    with hostile.hostile(hostile.answer(ONE)) as server:
        error = failure(address.format(port=server.port))
        assert server.connections == 0
    assert error.kind == "unreachable"
    assert "is forbidden" in error.detail


def test_a_forbidden_address_is_an_analysis_error_not_a_crash() -> None:
    policy = _policy(denied="127.0.0.0/8")
    analyzer = PrometheusAnalyzer(lambda source: prometheus_provider(source, policy),
                                  min_window_seconds=2)
    with hostile.hostile(hostile.answer(EMPTY)) as server:
        outcome = analyzer.evaluate(RolloutRef("r", "a", "u", 8080), _observation(server.url))
        assert server.connections == 0
    assert outcome.verdict == "Error"
    assert "MODELROLLOUT_PROMETHEUS_DENIED" in outcome.reason
