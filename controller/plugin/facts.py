"""Facts the views share, derived from a ModelRollout as the API returns it (plain dicts).

The plugin reads dicts rather than the pydantic models on purpose: a plugin older or newer than
the operator must still show what it can, so every field is optional here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]
CONDITION_ORDER = ("Progressing", "Paused", "Healthy", "Degraded")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StepInfo:
    number: int  # 1-based, as people count
    total: int
    text: str


def status_of(rollout: Json) -> Json:
    status: Json = rollout.get("status") or {}
    return status


def spec_of(rollout: Json) -> Json:
    spec: Json = rollout.get("spec") or {}
    return spec


def lenient_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def duration(seconds: float) -> str:
    """Like kubectl's ages: 95s, 3m20s, 45m, 3h20m, 20h, 3d4h, 12d."""
    total = max(int(seconds), 0)
    minutes, hours, days = total // 60, total // 3600, total // 86400
    if total < 120:
        return f"{total}s"
    if minutes < 10:
        return f"{minutes}m{total % 60}s" if total % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


def age(timestamp: str | None, now: datetime) -> str:
    then = lenient_time(timestamp)
    return "-" if then is None else duration((now - then).total_seconds())


def describe_canary_step(step: Json) -> str:
    if "setWeight" in step:
        return f"setWeight {step['setWeight']}%: the candidate serves {step['setWeight']}% live"
    if "pause" in step:
        seconds = (step["pause"] or {}).get("durationSeconds")
        return "pause until promoted" if seconds is None else f"pause for {duration(seconds)}"
    if "mirror" in step:
        mirror = step["mirror"] or {}
        text = f"mirror {mirror.get('percent', '?')}% of requests to the candidate (0% live)"
        seconds = mirror.get("durationSeconds")
        return text if seconds is None else f"{text} for {duration(seconds)}"
    if "analysis" in step:
        return f"analysis {describe_analysis(step['analysis'] or {})}"
    if "chaos" in step:
        return describe_chaos(step["chaos"] or {})
    return "unknown step"


def describe_analysis(analysis: Json) -> str:
    parts = []
    if analysis.get("durationSeconds") is not None:
        parts.append(f"for up to {duration(analysis['durationSeconds'])}")
    if analysis.get("minSamples") is not None:
        parts.append(f"with at least {analysis['minSamples']:,} candidate samples")
    return " ".join(parts) or "until a verdict"


def describe_chaos(chaos: Json) -> str:
    effects = []
    if chaos.get("errorStatus"):
        effects.append(f"HTTP {chaos['errorStatus']}")
    if chaos.get("addedLatencyMilliseconds"):
        effects.append(f"+{chaos['addedLatencyMilliseconds']}ms")
    if chaos.get("corruptPrediction"):
        effects.append("a corrupted prediction")
    share = chaos.get("fractionBasisPoints", 0) / 100
    scope = ""
    header = chaos.get("header") or {}
    if chaos.get("segment"):
        scope = f" of segment {chaos['segment']}"
    elif header:
        scope = f" with {header.get('name')}: {header.get('value')}"
    elif chaos.get("hashedFractionBasisPoints"):
        scope = f" of {chaos['hashedFractionBasisPoints'] / 100:g}% of units"
    return (f"chaos: {share:g}% of the candidate's requests{scope} get "
            f"{' and '.join(effects)} for {duration(chaos.get('durationSeconds', 60))}")


def describe_blue_green_step(rollout: Json, index: int) -> str:
    blue_green = spec_of(rollout).get("strategy", {}).get("blueGreen") or {}
    name = rollout.get("metadata", {}).get("name", "")
    if index == 0:
        analysis = blue_green.get("prePromotionAnalysis")
        text = f"preview: the candidate answers on {name}-candidate only"
        return text if analysis is None else f"{text}; analysis {describe_analysis(analysis)}"
    if blue_green.get("autoPromote"):
        wait = blue_green.get("autoPromotionSeconds") or 0
        return f"switch: automatic after {duration(wait)} of preview"
    return "switch: waiting for promote"


def step_info(rollout: Json) -> StepInfo | None:
    """The current step of a rollout in progress; None when no candidate is rolling out."""
    status = status_of(rollout)
    if not status.get("candidateRevision"):
        return None
    index = status.get("currentStepIndex") or 0
    strategy = spec_of(rollout).get("strategy") or {}
    if "blueGreen" in strategy:
        return StepInfo(index + 1, 2, describe_blue_green_step(rollout, index))
    steps = (strategy.get("canary") or {}).get("steps") or []
    text = describe_canary_step(steps[index]) if index < len(steps) else "completing"
    return StepInfo(index + 1, max(len(steps), 1), text)


def strategy_name(rollout: Json) -> str:
    strategy = spec_of(rollout).get("strategy") or {}
    return "blueGreen" if "blueGreen" in strategy else "canary"


def conditions(status: Json) -> list[Json]:
    found = {c.get("type"): c for c in status.get("conditions") or []}
    ordered = [found.pop(kind) for kind in CONDITION_ORDER if kind in found]
    return ordered + list(found.values())


def condition(status: Json, kind: str) -> Json | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def weights(status: Json) -> tuple[int, int]:
    traffic = status.get("traffic") or {}
    return traffic.get("stableWeight", 100), traffic.get("candidateWeight", 0)


def mirrors(status: Json) -> list[tuple[str, int]]:
    traffic = status.get("traffic") or {}
    return [(m.get("variant", "?"), m.get("percent", 0)) for m in traffic.get("mirrors") or []]


def number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def interval(lower: float | None, upper: float | None) -> str:
    if lower is None and upper is None:
        return "-"
    return f"[{number(lower, True)}, {number(upper, True)}]"


def p_value(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.0001" if value < 1e-4 else f"{value:.3g}"


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def samples(metric: Json) -> tuple[int, int]:
    found = metric.get("samples") or {}
    return found.get("stable", 0), found.get("candidate", 0)


def event_time(event: Json) -> str | None:
    """Events carry their time in different fields depending on who wrote them."""
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if event.get(key):
            return str(event[key])
    return (event.get("metadata") or {}).get("creationTimestamp")


def sorted_events(events: list[Json]) -> list[Json]:
    """Oldest first. Event times have whole seconds, so ties keep the order of writing, which
    the resourceVersion reflects (opaque in theory, an increasing number in practice)."""

    def key(event: Json) -> tuple[datetime, int]:
        version = str((event.get("metadata") or {}).get("resourceVersion", ""))
        return lenient_time(event_time(event)) or EPOCH, int(version) if version.isdigit() else 0

    return sorted(events, key=key)
