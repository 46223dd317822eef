"""The shipped examples as test cases: how each is loaded, the one documented transformation
that makes it fit a test's minutes, and what each candidate must end as.

`for_test` is the only change made to a manifest, and it touches no verdict logic:

- `spec.analysis.prometheus.address` -> the test's Prometheus (plain http on loopback, so its
  https-only `caBundle` / `insecureSkipVerify` go);
- `spec.analysis.intervalSeconds` -> INTERVAL_SECONDS (looks every few seconds);
- timers (mirror, pause `durationSeconds`; blue/green `autoPromotionSeconds`,
  `scaleDownDelaySeconds`) -> the case's `timer_seconds` (a chaos step keeps its own: it
  must be long enough for the analysis to catch the fault, and ends when it does);
- analysis `durationSeconds` (analysis steps, a mirror step's `analysis`, blue/green
  `prePromotionAnalysis`) -> ANALYSIS_SECONDS, their `minSamples` -> at most STEP_SAMPLES,
  `spec.analysis.minSamples` -> at most GUARDRAIL_SAMPLES: the same tests on smaller samples;
- the candidate: the first container's MODEL_URI names another model file (a new revision).
Weights, steps, metrics, tolerances, goals and policies are the example's.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from controller.api.template import PodTemplate
from controller.rollout.revision import pod_template_revision

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
README_MARKER = "<!-- example: api-sample"  # README.md: the next ```yaml block

INTERVAL_SECONDS = 3
ANALYSIS_SECONDS = 45
STEP_SAMPLES = 200
GUARDRAIL_SAMPLES = 40

JSON = dict[str, Any]
Router = Literal["builtin", "istio", "gatewayAPI"]


def load(example: str) -> JSON:
    """An example manifest as a user copies it: `readme` is the README's API sample."""
    if example == "readme":
        return readme_sample()
    loaded: JSON = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    return loaded


def readme_sample() -> JSON:
    text = (REPO / "README.md").read_text()
    after = text.split(README_MARKER, 1)[1]
    found = re.search(r"```yaml\n(.*?)```", after, re.DOTALL)
    assert found is not None, f"no ```yaml block after {README_MARKER} in README.md"
    loaded: JSON = yaml.safe_load(found.group(1))
    return loaded


def with_model(manifest: JSON, model_uri: str) -> JSON:
    """The manifest with its first container's MODEL_URI set: a new template revision."""
    changed = copy.deepcopy(manifest)
    container = changed["spec"]["template"]["spec"]["containers"][0]
    env = [e for e in container.get("env", []) if e["name"] != "MODEL_URI"]
    container["env"] = [*env, {"name": "MODEL_URI", "value": model_uri}]
    return changed


def revision(manifest: JSON) -> str:
    return pod_template_revision(PodTemplate.model_validate(manifest["spec"]["template"]))


def _shrink_step(step: JSON, timer_seconds: int) -> None:
    for kind in ("mirror", "pause"):
        if step.get(kind) and "durationSeconds" in step[kind]:
            step[kind]["durationSeconds"] = timer_seconds
    if (step.get("mirror") or {}).get("analysis") is not None:  # a judged mirror step
        _shrink_analysis(step["mirror"]["analysis"])
    if step.get("analysis") is not None:
        _shrink_analysis(step["analysis"])


def _shrink_analysis(analysis: JSON) -> None:
    if "durationSeconds" in analysis:
        analysis["durationSeconds"] = ANALYSIS_SECONDS
    if "minSamples" in analysis:
        analysis["minSamples"] = min(analysis["minSamples"], STEP_SAMPLES)


def for_test(manifest: JSON, prometheus_url: str, timer_seconds: int) -> JSON:
    """The documented transformation (module docstring); nothing else changes."""
    changed = copy.deepcopy(manifest)
    spec = changed["spec"]
    analysis = spec.get("analysis")
    if analysis is not None:
        analysis["prometheus"]["address"] = prometheus_url
        for https_only in ("caBundle", "insecureSkipVerify"):
            analysis["prometheus"].pop(https_only, None)
        analysis["intervalSeconds"] = INTERVAL_SECONDS
        analysis["minSamples"] = min(analysis.get("minSamples", 100), GUARDRAIL_SAMPLES)
    canary = spec["strategy"].get("canary")
    if canary is not None:
        for step in canary["steps"]:
            _shrink_step(step, timer_seconds)
        canary["scaleDownDelaySeconds"] = 0
    blue_green = spec["strategy"].get("blueGreen")
    if blue_green is not None:
        for key in ("autoPromotionSeconds", "scaleDownDelaySeconds"):
            if key in blue_green:
                blue_green[key] = timer_seconds
        if blue_green.get("prePromotionAnalysis") is not None:
            _shrink_analysis(blue_green["prePromotionAnalysis"])
    return changed


def router_kind(manifest: JSON) -> Router:
    routing = manifest["spec"].get("trafficRouting") or {"builtin": {}}
    kind: Router = next(iter(routing))
    return kind


@dataclass(frozen=True)
class PersonStep:
    """A person's documented move once the rollout waits: the Paused reason, the command."""

    paused_reason: str
    command: str  # promote | abort | ...


@dataclass(frozen=True)
class Case:
    example: str  # examples/<example>.yaml, or readme
    candidate: Literal["good", "bad"]
    model: str  # which model server answers for the candidate: v3, v2, or dead
    documented: str  # the outcome the example or README promises, in words
    outcome: tuple[str, str]  # status.history[-1] (outcome, reason)
    # The candidate's live weight per write; None: no candidate. A first step that sets a
    # weight follows a 0 (make-before-break: the candidate is a backend before it is Ready).
    weights: list[int | None]
    people: tuple[PersonStep, ...] = ()
    events: tuple[str, ...] = ()  # Event reasons the rollout must have emitted
    timer_seconds: int = 8
    pending: str | None = None  # why this case cannot pass yet (xfail)

    @property
    def id(self) -> str:
        return f"{self.example}-{self.candidate}"

    def shadow_revisions(self) -> list[str]:
        """The revisions of the example's long-lived shadows (spec.shadows)."""
        return [pod_template_revision(PodTemplate.model_validate(s["template"]))
                for s in load(self.example)["spec"].get("shadows", [])]

    def manifest(self, prometheus_url: str) -> tuple[JSON, JSON]:
        """(stable, candidate) manifests, transformed for the test."""
        stable = for_test(load(self.example), prometheus_url, self.timer_seconds)
        name = stable["metadata"]["name"]
        candidate = with_model(stable, f"file:///models/{name}/{self.candidate}-{self.model}")
        return stable, candidate


CASES = [
    Case("canary-analysis", "good", "v3",
         "promoted after the timed shadow phase and both analyses, held once at the pause for a "
         "person (promote)", ("Promoted", "StepsCompleted"), [None, 0, 5, 25, 50, None],
         people=(PersonStep("WaitingForPromotion", "promote"),)),
    Case("canary-analysis", "bad", "dead",
         "rolled back by the errors guardrail at the first analysis", ("RolledBack",
         "AnalysisFailed"), [None, 0, 5, None]),
    Case("readme", "good", "v3",
         "promoted: judged as a shadow, held at the pause (promote), the chaos fault is caught "
         "(MonitoringDetectedFault), the last analysis shows it better",
         ("Promoted", "StepsCompleted"), [None, 0, 5, 25, None],
         people=(PersonStep("WaitingForPromotion", "promote"),),
         events=("MonitoringDetectedFault",)),
    Case("readme", "bad", "v2",
         "less accurate: not shown better by the end of the judged mirror step, held for a "
         "person (AnalysisInconclusive) with 0% live, who aborts", ("Aborted", "Aborted"),
         [None, 0, None], people=(PersonStep("AnalysisInconclusive", "abort"),)),
    Case("ab-sticky", "good", "v3",
         "promoted once accuracy and conversion are shown better at 50/50",
         ("Promoted", "StepsCompleted"), [None, 0, 50, None]),
    Case("ab-sticky", "bad", "v2",
         "rolled back: not shown better when the test's time is up (onInconclusive: Rollback)",
         ("RolledBack", "AnalysisInconclusive"), [None, 0, 50, None]),
    Case("istio", "good", "v3", "promoted: no more 5xx than stable at 10%, then 100%",
         ("Promoted", "StepsCompleted"), [None, 0, 10, 100, None]),
    Case("istio", "bad", "dead", "rolled back by its errors query at 10%",
         ("RolledBack", "AnalysisFailed"), [None, 0, 10, None]),
    Case("gateway-api", "good", "v3", "promoted when its timed steps are done (no analysis)",
         ("Promoted", "StepsCompleted"), [None, 0, 10, 50, None]),
    Case("gateway-api", "bad", "v2",
         "no analysis to catch it: a person aborts during a timed pause",
         ("Aborted", "Aborted"), [None, 0, 10, None],
         people=(PersonStep("", "abort"),), timer_seconds=20),
    # shadowAgreement measures against 100%: a good preview or shadow answers as stable does
    # (the baseline model again, e.g. in a new serving image); the bad one is less accurate.
    Case("blue-green", "good", "v1",
         "judged as a shadow of live traffic in preview, then switched to",
         ("Promoted", "AutoPromoted"), [None, 0, None]),
    Case("blue-green", "bad", "v2",
         "rolled back by the preview analysis (disagrees with stable) before the switch",
         ("RolledBack", "AnalysisFailed"), [None, 0, None]),
    Case("shadow", "good", "v1",
         "judged as a shadow, then live at 10% with analysis, then all traffic",
         ("Promoted", "StepsCompleted"), [None, 0, 10, 100, None]),
    Case("shadow", "bad", "v2",
         "rolled back as a shadow that disagrees with stable, 0% live throughout",
         ("RolledBack", "AnalysisFailed"), [None, 0, None]),
]


@dataclass
class Verdict:
    """What one case saw, for the closing note's table."""

    case: str
    documented: str
    outcome: str = ""
    reason: str = ""
    message: str = ""
    weights: list[int | None] = field(default_factory=list)
    seconds_to_verdict: float | None = None


