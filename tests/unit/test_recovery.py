"""What the operator does when the API fails: the backoff, which errors mean the API is away,
the probe that wakes loops when it is back, bounded calls, and Events named per state."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.operator.apiclient import bounded_api_client
from controller.operator.events import Outbox, event_name
from controller.operator.kube import Kube
from controller.operator.recovery import ApiReturn, backoff_seconds, unreachable
from controller.operator.settings import ApiSettings, OperatorSettings, SettingsError
from controller.rollout.model import Event

pytestmark = pytest.mark.unit


# --- backoff and what counts as the API being away --------------------------------------------


def test_backoff_grows_then_holds_at_the_cap() -> None:
    assert [backoff_seconds(n, 30) for n in range(1, 8)] == [1, 2, 5, 10, 30, 30, 30]
    assert [backoff_seconds(n, 4) for n in range(1, 5)] == [1, 2, 4, 4]
    assert backoff_seconds(0, 30) == 1  # never a zero wait


def test_unreachable_errors() -> None:
    assert unreachable(urllib3.exceptions.MaxRetryError(None, "/", "refused"))  # type: ignore[arg-type]
    assert unreachable(urllib3.exceptions.ReadTimeoutError(None, "/", "timed out"))  # type: ignore[arg-type]
    assert unreachable(ConnectionResetError())
    assert unreachable(ApiException(status=503))
    assert not unreachable(ApiException(status=409))
    assert not unreachable(ApiException(status=422))
    assert not unreachable(ValueError("a bug"))


# --- the probe ----------------------------------------------------------------------------------


def probe_run(answers: list[bool], waiters: int = 1) -> tuple[list[bool], int]:
    """Run one probe over `answers`; whether each waiter was woken, and the probes made."""
    calls = []

    def ready() -> bool:
        calls.append(1)
        return answers[min(len(calls), len(answers)) - 1]

    async def main() -> list[bool]:
        api_return = ApiReturn(ready, interval_seconds=0.001)
        events = [api_return.waiter() for _ in range(waiters)]
        await asyncio.sleep(0.2)
        return [e.is_set() for e in events]

    return asyncio.run(main()), len(calls)


def test_probe_wakes_every_waiter_when_the_api_returns() -> None:
    woken, probes = probe_run([False, False, False, True], waiters=3)
    assert woken == [True, True, True]
    assert probes == 4  # one probe for all waiters, stopped once the API answered


def test_probe_does_not_wake_when_the_api_never_went_away() -> None:
    """A failure that was not an outage (the API answers at once) keeps its backoff: no
    retry storm against a server that is up but refusing."""
    woken, probes = probe_run([True])
    assert woken == [False]
    assert probes == 1


def test_a_new_waiter_after_a_finished_probe_starts_another() -> None:
    async def main() -> bool:
        answers = iter([True, False, True])
        api_return = ApiReturn(lambda: next(answers), interval_seconds=0.001)
        first = api_return.waiter()
        await asyncio.sleep(0.05)
        second = api_return.waiter()
        await asyncio.sleep(0.05)
        return not first.is_set() and second.is_set()

    assert asyncio.run(main())


# --- bounded calls -----------------------------------------------------------------------------


def silent_server() -> tuple[socket.socket, int]:
    """Accepts connections and never answers: a frozen API server."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return listener, listener.getsockname()[1]


def test_a_call_to_a_silent_server_gives_up_after_the_timeout() -> None:
    listener, port = silent_server()
    try:
        configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
        api = bounded_api_client(configuration, ApiSettings(connect_timeout_seconds=1,
                                                            timeout_seconds=1))
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.HTTPError) as raised:
            client.CoreV1Api(api).read_namespaced_config_map("x", "default")
        assert unreachable(raised.value)
        assert time.monotonic() - started < 5  # one attempt of 1 s, not retried
    finally:
        listener.close()


def test_an_event_post_never_raises() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    api = bounded_api_client(client.Configuration(host=f"http://127.0.0.1:{port}"),
                             ApiSettings(connect_timeout_seconds=1, timeout_seconds=1))
    rollout = {"apiVersion": "rollouts.mlops.dev/v1alpha1", "kind": "ModelRollout",
               "metadata": {"name": "r", "namespace": "ns", "uid": "u"}}
    assert Kube(api).post_event(rollout, "Normal", "StepCompleted", "m", name="r.x") is False


# --- settings ----------------------------------------------------------------------------------


def test_api_settings_from_the_environment() -> None:
    assert OperatorSettings.from_env({}).api == ApiSettings()
    read = OperatorSettings.from_env({"MODELROLLOUT_API_TIMEOUT_SECONDS": "3",
                                      "MODELROLLOUT_API_CONNECT_TIMEOUT_SECONDS": "1",
                                      "MODELROLLOUT_API_PROBE_INTERVAL_MILLISECONDS": "200",
                                      "MODELROLLOUT_MAX_BACKOFF_SECONDS": "5"}).api
    assert read == ApiSettings(connect_timeout_seconds=1, timeout_seconds=3,
                               probe_interval_milliseconds=200, max_backoff_seconds=5)


@pytest.mark.parametrize(("variable", "value"), [
    ("MODELROLLOUT_API_TIMEOUT_SECONDS", "0"), ("MODELROLLOUT_API_TIMEOUT_SECONDS", "1.5"),
    ("MODELROLLOUT_API_CONNECT_TIMEOUT_SECONDS", "60"),  # above the total (30)
    ("MODELROLLOUT_API_PROBE_INTERVAL_MILLISECONDS", "10"),
    ("MODELROLLOUT_MAX_BACKOFF_SECONDS", "forever")])
def test_api_settings_refused(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        OperatorSettings.from_env({variable: value})


# --- Events: names and the outbox --------------------------------------------------------------

STEP = Event("Normal", "StepCompleted", "step 1 of 3 done: setWeight 10")
STATE = {"phase": "Progressing", "currentStepIndex": 1}
ROLLOUT = {"apiVersion": "rollouts.mlops.dev/v1alpha1", "kind": "ModelRollout",
           "metadata": {"name": "r", "namespace": "ns", "uid": "u1", "resourceVersion": "7"}}
KEY = ("ns", "r")


def test_event_names_are_one_per_event_state_and_object() -> None:
    name = event_name("r", "u1", STATE, STEP)
    assert name == event_name("r", "u1", dict(reversed(STATE.items())), STEP)
    assert name.startswith("r.")
    assert len(name) <= 253
    others = {event_name("r", "u2", STATE, STEP),  # the same name created again
              event_name("r", "u1", {**STATE, "currentStepIndex": 2}, STEP),
              event_name("r", "u1", STATE, Event("Normal", "StepCompleted", "other"))}
    assert name not in others
    assert len(others) == 3
    assert len(event_name("x" * 300, "u", {}, STEP)) <= 253


def test_outbox_keeps_the_events_of_a_reached_state_until_posted() -> None:
    outbox = Outbox()
    outbox.expect(KEY, ROLLOUT, STATE, [STEP])
    assert not outbox.waiting(KEY)  # not reached yet: the status write may fail
    pending = outbox.reached(KEY, "u1", STATE)
    assert [p.event for p in pending] == [STEP]
    assert outbox.waiting(KEY)
    # The next reconcile finds the state and decides nothing new: still there to post.
    outbox.expect(KEY, ROLLOUT, STATE, [])
    assert [p.name for p in outbox.reached(KEY, "u1", STATE)] == [pending[0].name]
    outbox.posted(KEY, pending[0].name)
    assert not outbox.waiting(KEY)
    assert outbox.reached(KEY, "u1", STATE) == []


def test_outbox_drops_the_events_of_a_state_never_reached() -> None:
    outbox = Outbox()
    outbox.expect(KEY, ROLLOUT, STATE, [STEP])  # the status write failed
    assert outbox.reached(KEY, "u1", {"phase": "Healthy"}) == []  # found elsewhere
    other = Event("Normal", "Promoted", "done")
    outbox.expect(KEY, ROLLOUT, {"phase": "Healthy"}, [other])
    assert [p.event for p in outbox.reached(KEY, "u1", {"phase": "Healthy"})] == [other]


def test_outbox_posts_the_events_of_a_write_whose_answer_was_lost() -> None:
    """The status write landed but its answer did not: the next reconcile reads the state
    back, and that is enough to post the Events of it."""
    outbox = Outbox()
    outbox.expect(KEY, ROLLOUT, STATE, [STEP])
    assert [p.event for p in outbox.reached(KEY, "u1", dict(STATE))] == [STEP]


def test_outbox_ignores_another_object_of_the_same_name() -> None:
    outbox = Outbox()
    outbox.expect(KEY, ROLLOUT, STATE, [STEP])
    assert outbox.reached(KEY, "u2", STATE) == []


def test_outbox_forgets_a_deleted_rollout() -> None:
    outbox = Outbox()
    outbox.expect(KEY, ROLLOUT, STATE, [STEP])
    outbox.reached(KEY, "u1", STATE)
    outbox.forget(KEY)
    assert not outbox.waiting(KEY)
