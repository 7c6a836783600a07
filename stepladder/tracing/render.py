"""Traces drawn for the terminal: the span tree `stepladder traces show` prints."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from rich.tree import Tree

from stepladder.tracing.store import SpanRecord, Trace, TraceSummary, summarize

__all__ = [
    "format_cost",
    "format_duration",
    "format_elapsed",
    "format_ms",
    "span_label",
    "trace_header",
    "trace_tree",
]

TYPE_STYLES = {
    "run": "bold",
    "node": "cyan",
    "model": "magenta",
    "retrieval": "green",
    "tool": "yellow",
}
STATUS_STYLES = {"ok": "green", "error": "bold red", "incomplete": "yellow"}


def format_ms(nanoseconds: float) -> str:
    """Nanoseconds as milliseconds, e.g. `12.3 ms`."""
    return f"{nanoseconds / 1e6:,.1f} ms"


def format_duration(nanoseconds: float) -> str:
    """A short duration for tables: `0.4 ms`, `89 ms`, `12.4 s`, `1,520 s`."""
    ms = nanoseconds / 1e6
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s" if ms < 100_000 else f"{ms / 1000:,.0f} s"


def format_elapsed(nanoseconds: float) -> str:
    """A duration in the unit that reads best: `850 µs`, `12.4 ms`, `3.21 s`, `4 min 05 s`.

    An hour or more reads `1 h 02 min`. The studio's `formatDuration` gives the same text.
    """
    seconds = max(nanoseconds, 0) / 1e9
    if round(seconds * 1e6) < 1000:
        return f"{round(seconds * 1e6)} µs"
    if round(seconds * 1e3, 1) < 1000:
        return f"{seconds * 1e3:.1f} ms"
    if round(seconds, 2) < 60:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def format_cost(usd: float) -> str:
    """A cost in US dollars, precise enough for one small-model call: `$0.000123`."""
    return f"${usd:,.6f}" if usd < 1 else f"${usd:,.4f}"


def trace_header(summary: TraceSummary) -> Text:
    """One line about the trace: id, flow, status, start, duration, tokens, cost."""
    text = Text()
    text.append(f"trace {summary.trace_id}", style="bold")
    text.append(f"  {summary.flow or '-'}  ")
    text.append(summary.status, style=STATUS_STYLES[summary.status])
    text.append(
        f"  started {summary.started:%Y-%m-%d %H:%M:%S} UTC"
        f"  {format_ms(summary.duration_ns)}"
        f"  tokens {summary.input_tokens}/{summary.output_tokens}"
        f"  {format_cost(summary.cost_usd)}"
        f"  escalations {summary.escalations}"
        f"  spans {summary.span_count}"
    )
    return text


def trace_tree(trace: Trace) -> RenderableType:
    """The trace's header and its span tree, one line per span."""
    summary = summarize(trace)
    tree = Tree(trace_header(summary), guide_style="dim")
    branches: dict[str, Tree] = {}
    for span, _depth in trace.walk():
        parent = branches.get(trace.parent_of(span) or "", tree)
        branches[span.span_id] = parent.add(span_label(span, trace.start_ns))
    if summary.status == "incomplete":
        note = Text("the run has not finished (no root span yet)", style="yellow")
        return Group(tree, note)
    return tree


def span_label(span: SpanRecord, trace_start_ns: int) -> Text:
    """One span: name, start offset and duration, tier, model, tokens, cost and status."""
    label = Text()
    style = "bold red" if span.is_error else TYPE_STYLES.get(span.span_type)
    label.append(span.shown_name, style=style)
    label.append(f"  +{format_ms(span.start_ns - trace_start_ns)}", style="dim")
    label.append(f"  {format_ms(span.duration_ns)}")
    for part in _details(span):
        label.append(f"  {part}", style="dim")
    if span.is_error:
        label.append("  ERROR", style="bold red")
        if span.error_message:
            label.append(f": {span.error_message}", style="red")
    elif span.status == "OK":
        label.append("  ok", style="green")
    return label


def _details(span: SpanRecord) -> list[str]:
    attributes = span.attributes
    parts: list[str] = []
    for key, prefix in (("stepladder.tier", "tier "), ("gen_ai.request.model", "")):
        if attributes.get(key):
            parts.append(f"{prefix}{attributes[key]}")
    tokens_in = _first(span, "gen_ai.usage.input_tokens", "stepladder.usage.input_tokens")
    tokens_out = _first(span, "gen_ai.usage.output_tokens", "stepladder.usage.output_tokens")
    if tokens_in is not None or tokens_out is not None:
        parts.append(f"tokens {_count(tokens_in)}/{_count(tokens_out)}")
    cached = _first(span, "gen_ai.usage.cache_read.input_tokens", "stepladder.usage.cached_tokens")
    if cached:
        parts.append(f"cached {_count(cached)}")
    cost = span.number("stepladder.cost_usd")
    if cost is not None:
        parts.append(format_cost(cost))
    if attributes.get("stepladder.escalation.reason"):
        parts.append(f"escalated: {attributes['stepladder.escalation.reason']}")
    if attributes.get("gen_ai.tool.name"):
        parts.append(f"tool {attributes['gen_ai.tool.name']}")
    if attributes.get("stepladder.collection"):
        parts.append(f"collection {attributes['stepladder.collection']}")
    return parts


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _first(span: SpanRecord, *keys: str) -> float | None:
    """The first of `keys` the span has a number for."""
    for key in keys:
        value = span.number(key)
        if value is not None:
            return value
    return None
