"""What an analysis look judged, in one line per metric, for step results, Events and holds."""

from __future__ import annotations

from controller.api.status import AnalysisStatus, MetricResult


def metric_line(metric: MetricResult) -> str:
    """'errors n=9600/2400 (two proportions, mSPRT: worse by more than 0.5 pts): Pass
    p=0.31' — n is stable/candidate."""
    text = f"{metric.name} n={metric.samples.stable}/{metric.samples.candidate}"
    if metric.test:
        text += f" ({metric.test})"
    text += f": {metric.verdict}"
    if metric.p_value is not None:
        text += f" p={metric.p_value:.2g}"
    if metric.verdict not in ("Pass", "Fail") and metric.samples_needed:
        text += f", needs {metric.samples_needed} more candidate samples"
    return text


def judged(analysis: AnalysisStatus | None) -> str:
    """Every metric of the last look: n per variant, the test, the verdict."""
    if analysis is None or not analysis.metrics:
        return "no metric was judged"
    return "; ".join(metric_line(m) for m in analysis.metrics)
