"""The studio's runs area: the traced runs, filtered and searched, and one trace's spans.

```
GET /api/runs               runs, newest first (filters below)
GET /api/traces/{trace_id}  one trace (an id or its start): summary and spans in tree order
GET /runs                   the runs page      GET /traces/{trace_id}  the trace page
```
A run's input and output are the previews on its root span (`stepladder.input`,
`stepladder.output`); text search looks there. The project's trace store (span files, or
Postgres with `state.postgres`) is read again only when it changed.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse

from stepladder.errors import UserError
from stepladder.flows.project import trace_store
from stepladder.monitor.production import parse_since
from stepladder.studio.context import StudioContext, studio_context
from stepladder.studio.pages import page
from stepladder.tracing.sources import TraceSource
from stepladder.tracing.store import (
    SpanRecord,
    Trace,
    TraceStore,
    TraceSummary,
    summarize,
)
from stepladder.tracing.trace_json import CAPTURE_HINT, jsonable, trace_spans_json

__all__ = ["RunFilter", "TracedRuns", "router"]

router = APIRouter()

INPUT = "stepladder.input"
OUTPUT = "stepladder.output"
PREVIEW_CHARS = 300  # of a run's input and output in the list (the trace has them whole)


@dataclass(frozen=True)
class RunFilter:
    """What a run must be to be listed (None or False: any).

    Attributes:
        flow: The flow's name.
        status: How the run ended (`ok`, `error`, `incomplete`).
        since: Started at or after this time.
        until: Started before this time.
        escalated: At least one escalation.
        invalid: At least one model answer that did not validate.
        min_cost: Cost at least this, in USD.
        max_cost: Cost at most this, in USD.
        min_latency: Lasted at least this, in seconds.
        max_latency: Lasted at most this, in seconds.
        text: Words the run's input or output contains (case-insensitive).
    """

    flow: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    escalated: bool = False
    invalid: bool = False
    min_cost: float | None = None
    max_cost: float | None = None
    min_latency: float | None = None
    max_latency: float | None = None
    text: str | None = None

    def keeps(self, summary: TraceSummary, searched: str) -> bool:
        """Whether the run passes every filter (`searched`: its input and output, lower case)."""
        seconds = summary.duration_ns / 1e9
        return (
            (self.flow is None or summary.flow == self.flow)
            and (self.status is None or summary.status == self.status)
            and (self.since is None or summary.started >= self.since)
            and (self.until is None or summary.started < self.until)
            and (not self.escalated or summary.escalations > 0)
            and (not self.invalid or summary.invalid_outputs > 0)
            and _within(summary.cost_usd, self.min_cost, self.max_cost)
            and _within(seconds, self.min_latency, self.max_latency)
            and all(word in searched for word in (self.text or "").lower().split())
        )


@dataclass(frozen=True)
class TracedRuns:
    """The runs of a trace folder, read once per change of its files.

    Attributes:
        runs: Each trace's summary, the trace, and its input and output in lower case (for
            search), newest first.
        malformed_lines: Lines of the span files that were not spans.
    """

    runs: tuple[tuple[TraceSummary, Trace, str], ...]
    malformed_lines: int = 0

    @classmethod
    def of(cls, store: TraceStore) -> TracedRuns:
        """Summarize every trace of `store`."""
        runs = tuple(
            (summarize(trace), trace, _searched(_run_span(trace))) for trace in store.traces
        )
        return cls(runs, store.malformed_lines)


@router.get("/runs", include_in_schema=False, name="runs_page")
async def runs_page(request: Request) -> HTMLResponse:
    """The runs page."""
    return page(request, "runs.html")


@router.get("/traces/{trace_id}", include_in_schema=False, name="trace_page")
async def trace_page(request: Request, trace_id: str) -> HTMLResponse:
    """The trace page (its script reads the id from the address)."""
    return page(request, "trace.html")


@router.get("/api/runs", include_in_schema=False)
def list_runs(
    context: Annotated[StudioContext, Depends(studio_context)],
    flow: Annotated[str | None, Query(description="Only runs of this flow.")] = None,
    status: Annotated[Literal["ok", "error", "incomplete"] | None, Query()] = None,
    since: Annotated[str | None, Query(description="An age (7d) or ISO time.")] = None,
    until: Annotated[str | None, Query(description="An age (1h) or ISO time.")] = None,
    escalated: bool = False,
    invalid: Annotated[bool, Query(description="Only runs with an invalid output.")] = False,
    min_cost: Annotated[float | None, Query(ge=0)] = None,
    max_cost: Annotated[float | None, Query(ge=0)] = None,
    min_latency: Annotated[float | None, Query(ge=0, description="Seconds.")] = None,
    max_latency: Annotated[float | None, Query(ge=0, description="Seconds.")] = None,
    q: Annotated[str | None, Query(description="Text in the input or output.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> dict[str, Any]:
    """The traced runs that pass the filters, newest first, and what there is to filter on."""
    wanted = RunFilter(
        flow=flow or None,
        status=status,
        since=_time(since, "since"),
        until=_time(until, "until"),
        escalated=escalated,
        invalid=invalid,
        min_cost=min_cost,
        max_cost=max_cost,
        min_latency=min_latency,
        max_latency=max_latency,
        text=(q or "").strip() or None,
    )
    traced = _traced(trace_store(context.project))
    if traced is None:
        return _listing([], 0, [], 0, note="no traces yet: run a flow with `stepladder run`")
    kept = [(summary, trace) for summary, trace, text in traced.runs if wanted.keeps(summary, text)]
    flows = sorted({summary.flow for summary, _, _ in traced.runs if summary.flow})
    rows = [_row(summary, trace) for summary, trace in kept[:limit]]
    return _listing(rows, len(kept), flows, len(traced.runs), malformed=traced.malformed_lines)


@router.get("/api/traces/{trace_id}", include_in_schema=False)
def get_trace(
    trace_id: str, context: Annotated[StudioContext, Depends(studio_context)]
) -> dict[str, Any]:
    """One trace: its summary and its spans in tree order (404 when no trace matches)."""
    traced = _traced(trace_store(context.project))
    prefix = trace_id.strip().lower()
    traces = [trace for _, trace, _ in traced.runs] if traced is not None else []
    exact = [trace for trace in traces if trace.trace_id == prefix]
    matches = exact or [trace for trace in traces if prefix and trace.trace_id.startswith(prefix)]
    if not matches:
        raise HTTPException(404, detail=f"no trace id starts with '{trace_id}'")
    if len(matches) > 1:
        raise HTTPException(
            409, detail=f"'{trace_id}' matches {len(matches)} traces; give more of the id"
        )
    trace = matches[0]
    summary = summarize(trace)
    return {
        "trace_id": trace.trace_id,
        "summary": {**summary.to_json(), "duration_s": summary.duration_ns / 1e9},
        "duration_ms": trace.duration_ns / 1e6,
        "extent_ms": (trace.end_ns - trace.start_ns) / 1e6,
        "spans": trace_spans_json(trace),
        "capture_hint": CAPTURE_HINT,
    }


def _listing(
    rows: list[dict[str, Any]],
    matched: int,
    flows: list[str],
    total: int,
    malformed: int = 0,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "runs": rows,
        "matched": matched,
        "total": total,
        "flows": flows,
        "malformed_lines": malformed,
        "note": note,
    }


def _row(summary: TraceSummary, trace: Trace) -> dict[str, Any]:
    span = _run_span(trace)
    row: dict[str, Any] = jsonable(summary.to_json())
    row["duration_s"] = summary.duration_ns / 1e9
    row["input"] = _preview(_text(span, INPUT))
    row["output"] = _preview(_text(span, OUTPUT))
    return row


def _run_span(trace: Trace) -> SpanRecord | None:
    """The run's root span, else (an unfinished run) its first top span."""
    tops = trace.tops()
    return trace.root or (tops[0] if tops else None)


def _text(span: SpanRecord | None, key: str) -> str:
    value = span.attributes.get(key) if span is not None else None
    return "" if value is None else str(value)


def _searched(span: SpanRecord | None) -> str:
    return f"{_text(span, INPUT)}\n{_text(span, OUTPUT)}".lower()


def _preview(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def _within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _time(text: str | None, option: str) -> datetime | None:
    """`since`/`until` as a time (an age like `7d`, or ISO); a 422 naming the forms."""
    if not text or not text.strip():
        return None
    try:
        return parse_since(text, option=option)
    except UserError as error:
        raise HTTPException(422, detail=str(error)) from None


_cache: dict[str, tuple[Hashable, TracedRuns]] = {}
_cache_lock = threading.Lock()


def _traced(source: TraceSource) -> TracedRuns | None:
    """The runs traced in `source` (None when there is none yet), read again when it changed."""
    if not source.has_traces():
        return None
    signature = source.signature()
    with _cache_lock:
        cached = _cache.get(source.where)
        if cached is not None and cached[0] == signature:
            return cached[1]
    traced = TracedRuns.of(source.load())
    with _cache_lock:
        _cache[source.where] = (signature, traced)
    return traced
