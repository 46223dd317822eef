"""Error messages from fake API failures, argument parsing, and command outcomes."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
import urllib3

from controller.plugin.cli import action_of, parse
from controller.plugin.errors import ROLLOUTS, Operation, api_error, connection_error
from controller.plugin.outcome import changes, command_value, refusals, refused, summary
from controller.rollout.commands import parse_command
from tests.unit.plugin import samples
from tests.unit.plugin.samples import NOW

pytestmark = pytest.mark.unit

SERVER = "https://127.0.0.1:6443"
GET = Operation("get", ROLLOUTS, "ml", "fraud")


def status_body(code: int, message: str, details: dict[str, str] | None = None) -> str:
    return json.dumps({"kind": "Status", "code": code, "message": message,
                       "details": details or {}})


def test_missing_rollout() -> None:
    body = status_body(404, 'modelrollouts.rollouts.mlops.dev "fraud" not found',
                       {"name": "fraud", "kind": "modelrollouts"})
    assert api_error(404, "Not Found", body, GET, SERVER) == \
        "modelrollout fraud not found in namespace ml"


def test_missing_crd() -> None:
    # without the CRD the API server answers a plain-text 404 for the whole path
    message = api_error(404, "Not Found", "404 page not found\n", GET, SERVER)
    assert message.startswith("the ModelRollout CRD (modelrollouts.rollouts.mlops.dev/v1alpha1) "
                              "is not installed in the cluster at https://127.0.0.1:6443")
    listing = Operation("list", ROLLOUTS, None)
    assert "CRD" in api_error(404, "Not Found", "404 page not found", listing, SERVER)


def test_forbidden_names_who_verb_and_resource() -> None:
    body = status_body(403, 'modelrollouts.rollouts.mlops.dev "fraud" is forbidden: User '
                            '"system:serviceaccount:ml:ci" cannot patch resource "modelrollouts" '
                            'in API group "rollouts.mlops.dev" in the namespace "ml"')
    patch = Operation("patch", ROLLOUTS, "ml", "fraud")
    assert api_error(403, "Forbidden", body, patch, SERVER) == (
        "permission denied: system:serviceaccount:ml:ci cannot patch "
        "modelrollouts.rollouts.mlops.dev in namespace ml (RBAC needs verb 'patch' on "
        "modelrollouts.rollouts.mlops.dev)")
    everywhere = Operation("list", ROLLOUTS, None)
    assert "you cannot list modelrollouts.rollouts.mlops.dev across all namespaces" in \
        api_error(403, "Forbidden", None, everywhere, SERVER)


def test_unauthorized_and_other_answers_are_one_line() -> None:
    assert api_error(401, "Unauthorized", None, GET, SERVER).startswith(
        "unauthorized: the Kubernetes API at https://127.0.0.1:6443 rejected the credentials")
    message = api_error(500, "Internal", status_body(500, "etcd down\nmore"), GET, SERVER)
    assert message == (f"the Kubernetes API at {SERVER} refused to get "
                       f"modelrollouts.rollouts.mlops.dev: 500 etcd down")
    assert "\n" not in api_error(0, "SSLError\nwrong version number", None, GET, SERVER)


def max_retry(reason: Exception) -> urllib3.exceptions.MaxRetryError:
    return urllib3.exceptions.MaxRetryError(None, "/apis", reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(("error", "words"), [
    (max_retry(urllib3.exceptions.NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused")),  # type: ignore[arg-type]
     "connection refused"),
    (max_retry(urllib3.exceptions.ConnectTimeoutError("timed out")), "timed out"),
    (max_retry(urllib3.exceptions.NameResolutionError("x.invalid", None,  # type: ignore[arg-type]
                                                      socket.gaierror(-2, "unknown"))),
     "unknown host"),
    (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
    (OSError("something odd\nsecond line"), "something odd"),
])
def test_connection_errors(error: Exception, words: str) -> None:
    message = connection_error(SERVER, error)
    assert message.startswith(f"cannot reach the Kubernetes API at {SERVER}: ")
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize(("argv", "command", "namespace"), [
    (["list", "-A"], "list", None),
    (["-n", "ml", "status", "fraud", "--watch"], "status", "ml"),
    (["status", "fraud", "-n", "ml"], "status", "ml"),
    (["--context", "kind", "abort", "fraud"], "abort", None),
])
def test_argument_parsing(argv: list[str], command: str, namespace: str | None) -> None:
    args = parse(argv)
    assert args.command == command
    assert args.namespace == namespace


def test_flags_before_and_after_the_subcommand() -> None:
    args = parse(["--kubeconfig", "/a", "report", "fraud", "-o", "r.html"])
    assert (args.kubeconfig, args.context, args.output) == ("/a", None, "r.html")
    args = parse(["report", "fraud", "--kubeconfig", "/b", "--context", "c"])
    assert (args.kubeconfig, args.context, args.output) == ("/b", "c", None)


@pytest.mark.parametrize(("argv", "action"), [
    (["promote", "fraud"], "promote"), (["promote", "fraud", "--full"], "promote-full"),
    (["abort", "fraud"], "abort"), (["pause", "fraud"], "pause"), (["resume", "fraud"], "resume"),
    (["retry", "fraud"], "retry"),
])
def test_each_command_sends_a_valid_operator_action(argv: list[str], action: str) -> None:
    args = parse(argv)
    assert action_of(args) == action
    assert (args.no_wait, args.timeout) == (False, 5.0)
    value = command_value(action, NOW, "ab12cd")
    assert value == f"{action}@20260301T120000-ab12cd"
    assert parse_command(value).action == action  # type: ignore[union-attr]


def test_bad_arguments_exit() -> None:
    with pytest.raises(SystemExit):
        parse(["promote"])
    with pytest.raises(SystemExit):
        parse(["status", "fraud", "--full"])


def test_changes_in_words() -> None:
    before = samples.in_analysis()["status"]
    after = {**before, "phase": "Paused", "currentStepIndex": 3, "pausedByUser": True,
             "traffic": {"stableWeight": 75, "candidateWeight": 25}}
    assert changes(before, after) == ["phase Progressing -> Paused", "step 3 -> 4",
                                      "candidate weight 10% -> 25%", "paused by user"]
    assert changes(before, samples.rolled_back()["status"])[-1] == \
        "revision 9a1b2c RolledBack (AnalysisFailed)"


def test_summaries() -> None:
    before = samples.in_analysis()["status"]
    assert "has not acted on it yet" in summary("pause", "pause@1", before, None, [])
    assert summary("pause", "pause@1", before, before, []) == \
        "pause: done (pause@1); status unchanged, phase Progressing"
    assert summary("promote", "promote@1", before, before,
                   ["promote: the candidate is not Ready"]) == \
        "promote: the operator did not act: promote: the candidate is not Ready"
    assert refused(before, before, ["promote: the candidate is not Ready"])
    # a change with a warning is still done (the operator may warn about a side issue)
    after = {**before, "phase": "Paused"}
    assert summary("retry", "retry@1", before, after, ["retry: odd"]) == \
        "retry: done (retry@1): phase Progressing -> Paused (the operator warned: retry: odd)"
    assert not refused(before, after, ["retry: odd"])
    assert not refused(before, None, [])


def test_refusals_are_this_actions_since_it_was_sent() -> None:
    sent = NOW
    events = [
        samples.event("CommandIgnored", "promote: old", (sent - timedelta(minutes=5)).isoformat()),
        samples.event("CommandIgnored", "pause: other action", sent.isoformat()),
        samples.event("CommandIgnored", "promote: the candidate is not Ready",
                      sent.isoformat(), "Warning"),
        samples.event("CommandReceived", "promote (promote@1)", sent.isoformat()),
    ]
    assert refusals(events, "promote", sent) == ["promote: the candidate is not Ready"]
    assert refusals(None, "promote", sent) == []
