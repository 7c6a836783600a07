"""The service's Prometheus metrics, written by hand in the text exposition format 0.0.4.

Run-level numbers (runs, errors, latency, hand-offs to a person) are recorded as each run
ends. Per-tier numbers (model calls, tokens, cost, escalations) come from the model-call spans
of the service's tracing, through `ModelCallMetrics`, a span processor: each call's span
carries its flow, tier, tokens, cost and escalation reason (the same figures the run's usage
ledger holds), and the ledger itself is internal to `run_flow`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any, Literal

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from stepladder.config.tiers import HUMAN
from stepladder.tracing import attributes as names

__all__ = ["BUCKETS", "CONTENT_TYPE", "Metrics", "ModelCallMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[tuple[str, str], ...]

FAMILIES: dict[str, tuple[Kind, str]] = {
    "stepladder_runs_total": ("counter", "Runs that ended, by flow and status."),
    "stepladder_run_errors_total": ("counter", "Runs that failed, by flow and kind of error."),
    "stepladder_runs_in_progress": ("gauge", "Runs executing now, by flow."),
    "stepladder_run_duration_seconds": ("histogram", "Wall time of runs, by flow."),
    "stepladder_model_calls_total": ("counter", "Model calls, by flow and tier."),
    "stepladder_tokens_total": ("counter", "Model tokens, by flow, tier and direction."),
    "stepladder_cost_usd_total": ("counter", "Cost of model calls in USD, by flow and tier."),
    "stepladder_escalations_total": (
        "counter",
        "Escalations, by flow and the tier escalated to (`human`: a hand-off to a person).",
    ),
}


class _Histogram:
    """Cumulative bucket counts, a sum and a count."""

    def __init__(self) -> None:
        self.buckets = [0] * len(BUCKETS)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(BUCKETS):
            if value <= bound:
                self.buckets[index] += 1
        self.sum += value
        self.count += 1


class Metrics:
    """Counters, gauges and histograms by label set; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, _Histogram]] = {}

    def add(self, name: str, labels: Mapping[str, str], amount: float = 1.0) -> None:
        """Add `amount` to a counter or gauge."""
        key = _labels(labels)
        with self._lock:
            series = self._values.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, labels: Mapping[str, str], value: float) -> None:
        """Record one observation in a histogram."""
        key = _labels(labels)
        with self._lock:
            series = self._histograms.setdefault(name, {})
            series.setdefault(key, _Histogram()).observe(value)

    def value(self, name: str, **labels: str) -> float:
        """A counter's or gauge's current value (0 when never set)."""
        with self._lock:
            return self._values.get(name, {}).get(_labels(labels), 0.0)

    def record_run(
        self, flow: str, status: str, seconds: float, usage: Mapping[str, Any] | None
    ) -> None:
        """Count a run that ended (`finished`, `paused` or `failed`) and its duration."""
        self.add("stepladder_runs_total", {"flow": flow, "status": status})
        self.observe("stepladder_run_duration_seconds", {"flow": flow}, seconds)
        handoffs = int((usage or {}).get("reviews") or 0)
        if handoffs:
            self.add("stepladder_escalations_total", {"flow": flow, "tier": HUMAN}, handoffs)

    def record_error(self, flow: str, kind: str) -> None:
        """Count a failed run by the kind of its error."""
        self.add("stepladder_run_errors_total", {"flow": flow, "kind": kind})

    def render(self) -> str:
        """The exposition text: HELP and TYPE lines, then each series."""
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text) in FAMILIES.items():
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                if kind == "histogram":
                    lines.extend(_histogram_lines(name, self._histograms.get(name, {})))
                    continue
                for key, value in sorted(self._values.get(name, {}).items()):
                    lines.append(f"{name}{_format_labels(key)} {_number(value)}")
        return "\n".join(lines) + "\n"


def _histogram_lines(name: str, series: Mapping[Labels, _Histogram]) -> list[str]:
    lines = []
    for key, histogram in sorted(series.items()):
        for bound, count in zip(BUCKETS, histogram.buckets, strict=True):
            labels = (*key, ("le", _number(bound)))
            lines.append(f"{name}_bucket{_format_labels(labels)} {count}")
        lines.append(f"{name}_bucket{_format_labels((*key, ('le', '+Inf')))} {histogram.count}")
        lines.append(f"{name}_sum{_format_labels(key)} {_number(histogram.sum)}")
        lines.append(f"{name}_count{_format_labels(key)} {histogram.count}")
    return lines


def _labels(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted((key, str(value)) for key, value in labels.items()))


def _format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class ModelCallMetrics(SpanProcessor):
    """A span processor counting each model-call span into `Metrics`, by flow and tier."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Count a finished model-call span: the call, its tokens, cost and escalation."""
        attributes = span.attributes or {}
        if attributes.get(names.SPAN_TYPE) != names.SpanType.MODEL:
            return
        labels = {
            "flow": str(attributes.get(names.FLOW_NAME, "")),
            "tier": str(attributes.get(names.TIER, "")),
        }
        add = self.metrics.add
        add("stepladder_model_calls_total", labels)
        for direction, key in (
            ("input", names.GEN_AI_INPUT_TOKENS),
            ("output", names.GEN_AI_OUTPUT_TOKENS),
        ):
            tokens = _float(attributes.get(key))
            add("stepladder_tokens_total", {**labels, "direction": direction}, tokens)
        add("stepladder_cost_usd_total", labels, _float(attributes.get(names.COST_USD)))
        if attributes.get(names.ESCALATION_REASON):
            add("stepladder_escalations_total", labels)

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered."""
        return True


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
