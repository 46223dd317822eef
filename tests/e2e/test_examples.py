"""Every example is a contract: each manifest in examples/ and the README's API sample, applied
to the real stack (control plane, operator, Prometheus, model router and model servers as
processes), with a good candidate driven to its documented end and a bad one to its rollback.

The manifests change only by the documented transformation in tests/e2e/example_cases.py
(shorter timers, fewer samples, the test's Prometheus); the verdicts are the shipped logic.
Set MODELROLLOUT_EXAMPLES_SUMMARY=<path> for a JSON summary (example, documented outcome,
what the test saw, seconds to verdict); `-s` prints the same table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.example_cases import CASES, Case, Verdict, revision
from tests.e2e.example_run import CaseRun, namespace
from tests.e2e.example_stack import ExampleStack

pytestmark = pytest.mark.e2e

SUMMARY_ENV = "MODELROLLOUT_EXAMPLES_SUMMARY"
# The mirror/preview cases run (and must still fail) only when asked: they take minutes.
RUN_PENDING_ENV = "MODELROLLOUT_E2E_RUN_PENDING"


def _param(case: Case) -> object:
    marks = [] if case.pending is None else [pytest.mark.xfail(
        strict=True, reason=case.pending, run=os.environ.get(RUN_PENDING_ENV) == "1")]
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def stack(kubeconfig: Path, api: client.ApiClient,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleStack]:
    workdir = tmp_path_factory.mktemp("examples")
    shared = ExampleStack(workdir=workdir, kubeconfig=kubeconfig, models=workdir / "models")
    try:
        shared.train()
        shared.start_models()
        shared.start_prometheus()
        addresses: dict[str, str] = {}
        for case in CASES:  # every revision any case creates, before the operator starts
            stable, candidate = case.manifest(shared.prometheus_url)
            addresses[revision(stable)] = shared.model_address("v1")
            addresses[revision(candidate)] = (shared.dead_address if case.model == "dead"
                                              else shared.model_address(case.model))
            for shadow in case.shadow_revisions():  # shadow.yaml's challenger: the better model
                addresses[shadow] = shared.model_address("v3")
        shared.start_operator(addresses)
        yield shared
    finally:
        shared.close()


@pytest.fixture(scope="module")
def verdicts() -> Iterator[list[Verdict]]:
    seen: list[Verdict] = []
    yield seen
    rows = [v.__dict__ for v in seen]
    if os.environ.get(SUMMARY_ENV):
        Path(os.environ[SUMMARY_ENV]).write_text(json.dumps(rows, indent=1) + "\n")
    print("\nexample -> documented -> saw -> seconds to verdict")
    for v in seen:
        print(f"{v.case}: {v.documented} -> {v.outcome}/{v.reason} weights {v.weights} "
              f"-> {v.seconds_to_verdict}s")


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_example_reaches_its_documented_verdict(
    case: Case, stack: ExampleStack, api: client.ApiClient, verdicts: list[Verdict],
    request: pytest.FixtureRequest,
) -> None:
    with namespace(api, case) as ns, ExitStack() as resources:
        run = CaseRun(stack, api, case, ns)
        if run.kind != "builtin":
            request.getfixturevalue("traffic_crds")  # the upstream HTTPRoute/VirtualService CRDs
        verdicts.append(run.verdict)
        run.start(resources)
        body = run.release()
        weights = run.final_weights()
        reasons = run.event_reasons()

    entry = body["status"]["history"][-1]
    assert (entry["outcome"], entry["reason"]) == case.outcome, entry
    assert weights == case.weights
    for reason in case.events:
        assert reason in reasons
    if case.example == "gateway-api":
        assert 50 in run.mirrors()  # the mirror step's RequestMirror filter, 50%
    if case.outcome[0] == "Promoted":
        assert body["status"]["stableRevision"] == revision(run.candidate)
        assert body["status"]["phase"] == "Healthy"
