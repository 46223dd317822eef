"""Bench: the CRD's estimated CEL cost at its list bounds, as the API server estimates it.

The API server refuses a CRD whose rules' estimated cost exceeds its budgets (per rule and for
the whole schema) and says by what factor; below the budget it says nothing. So each list bound
that drives a rule's cost is multiplied until the server refuses, and the cost at the real
bound is the reported excess scaled back (costs grow linearly in each bound). Also the rule
left out of the CRD (a unit in two segments, docs: README "Validation at admission").

Run: python -m bench.cel_cost [--dir DIR]. Starts its own control plane (tests/cluster); one
JSON line per probe, then a summary line.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from controller.api.crd import custom_resource_definition, render
from tests.cluster.build import ensure_binaries
from tests.cluster.controlplane import start

PER_RULE_BUDGET = 10_000_000  # apiextensions StaticEstimatedCostLimit
TOTAL_BUDGET = 100_000_000  # StaticEstimatedCRDCostLimit
_EXCESS = re.compile(r"(\S+)\.rule: Forbidden: estimated rule cost exceeds budget by factor "
                     r"of ([\d.]+)x")
_TOTAL = re.compile(r"entire OpenAPIv3 schema exceeds budget by factor of ([\d.]+)x")

Crd = dict[str, Any]
_UNIT_RULE = ("!has(self.segments) || self.segments.all(a, self.segments.all(b,"
              " a.name == b.name || !a.units.exists(u, u in b.units)))")


def _spec(crd: Crd) -> Any:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _overrides(crd: Crd) -> Any:
    return _spec(crd)["properties"]["trafficRouting"]["properties"]["builtin"]["properties"][
        "overrides"]


BOUNDS: dict[str, Callable[[Crd], Any]] = {
    "analysis.metrics": lambda c: _spec(c)["properties"]["analysis"]["properties"]["metrics"],
    "strategy.canary.steps": lambda c: _spec(c)["properties"]["strategy"]["properties"][
        "canary"]["properties"]["steps"],
    "overrides.segments": lambda c: _overrides(c)["properties"]["segments"],
}


def refusal(kubectl: Path, kubeconfig: Path, crd: Crd) -> str:
    done = subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", "create",
                           "--dry-run=server", "-f", "-"], input=yaml.safe_dump(crd),
                          capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else done.stderr


def probe(kubectl: Path, kubeconfig: Path, bound: str, crd: Crd) -> dict[str, Any]:
    for factor in (10, 100, 1000, 10_000):
        scaled = copy.deepcopy(crd)
        node = BOUNDS[bound](scaled)
        node["maxItems"] = node["maxItems"] * factor
        text = refusal(kubectl, kubeconfig, scaled)
        excess = _EXCESS.findall(text)
        if excess:
            rule, times = max(excess, key=lambda e: float(e[1]))
            return {"bound": bound, "at": BOUNDS[bound](crd)["maxItems"], "scaled_by": factor,
                    "rule": rule, "estimated_cost_at_bound":
                        round(float(times) * PER_RULE_BUDGET / factor)}
    return {"bound": bound, "at": BOUNDS[bound](crd)["maxItems"], "scaled_by": 10_000,
            "rule": None, "estimated_cost_at_bound": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="cel-cost-"))
    plane = start(workdir)
    kubectl = ensure_binaries() / "kubectl"
    try:
        crd = custom_resource_definition()
        accepted = refusal(kubectl, plane.kubeconfig, crd) == ""
        results = [probe(kubectl, plane.kubeconfig, bound, crd) for bound in BOUNDS]
        for result in results:
            print(json.dumps(result))
        with_unit_rule = copy.deepcopy(crd)
        _overrides(with_unit_rule).setdefault("x-kubernetes-validations", []).append(
            {"rule": _UNIT_RULE, "message": "a unit may be listed in one segment only"})
        text = refusal(kubectl, plane.kubeconfig, with_unit_rule)
        unit = [float(t) for _, t in _EXCESS.findall(text)]
        total = _TOTAL.findall(text)
        print(json.dumps({
            "crd_accepted": accepted, "crd_bytes": len(render().encode()),
            "per_rule_budget": PER_RULE_BUDGET, "total_budget": TOTAL_BUDGET,
            "costs_at_bounds": {r["bound"]: r["estimated_cost_at_bound"] for r in results},
            "unit_in_one_segment_rule_times_per_rule_budget": max(unit, default=None),
            "with_it_times_total_budget": float(total[0]) if total else None,
        }))
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
