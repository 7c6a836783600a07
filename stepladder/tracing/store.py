"""The local trace store: span files (`*.jsonl`) read back into traces and summaries.

Each line of a span file is one finished span as a JSON object (`trace_id`, `span_id`,
`parent_id`, `name`, `kind`, `start_ns`, `end_ns`, `status`, `status_message`, `attributes`,
`events`, `resource`). Files rotate by size, so one trace may be spread over several files; a
run still going (or killed) has no root span yet and reads as `incomplete`. Malformed lines are
skipped and counted, never fatal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol, TypeGuard

from stepladder.errors import UserError
from stepladder.tracing.attributes import MAP_INDEX, MAP_NODE

__all__ = [
    "SpanEvent",
    "SpanRecord",
    "Trace",
    "TraceStatus",
    "TraceStore",
    "TraceSummary",
    "find_trace",
    "load_traces",
    "read_spans",
    "summarize",
    "traces_of",
]

TraceStatus = Literal["ok", "error", "incomplete"]

INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
RUN_INPUT_TOKENS = "stepladder.usage.input_tokens"
RUN_OUTPUT_TOKENS = "stepladder.usage.output_tokens"
COST = "stepladder.cost_usd"
ESCALATIONS = "stepladder.escalations"
ESCALATION_REASON = "stepladder.escalation.reason"
SPAN_TYPE = "stepladder.span.type"
FLOW_NAME = "stepladder.flow.name"
# How the status message of a model call whose answer did not validate starts.
INVALID_OUTPUT = "invalid output"


@dataclass(frozen=True)
class SpanEvent:
    """An event recorded on a span (an `exception`, mostly)."""

    name: str
    time_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanRecord:
    """One finished span, as read from a span file."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    kind: str = "INTERNAL"
    status: str = "UNSET"
    status_message: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> SpanRecord:
        """Build a span from one decoded line; raises `ValueError` if it is not a span."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        trace_id, span_id = data.get("trace_id"), data.get("span_id")
        start = data.get("start_ns")
        if not (isinstance(trace_id, str) and trace_id and isinstance(span_id, str) and span_id):
            raise ValueError("no trace_id or span_id")
        if not _is_int(start):
            raise ValueError("no start_ns")
        end = data.get("end_ns")
        parent = data.get("parent_id")
        return cls(
            trace_id=trace_id.lower(),
            span_id=span_id.lower(),
            parent_id=parent.lower() if isinstance(parent, str) and parent else None,
            name=str(data.get("name") or "?"),
            start_ns=start,
            end_ns=end if _is_int(end) and end >= start else start,
            kind=str(data.get("kind") or "INTERNAL"),
            status=str(data.get("status") or "UNSET").upper(),
            status_message=_optional_str(data.get("status_message")),
            attributes=_mapping(data.get("attributes")),
            events=tuple(_event(item) for item in _list(data.get("events"))),
            resource=_mapping(data.get("resource")),
        )

    @property
    def shown_name(self) -> str:
        """The name to show: an element of a mapped node adds its index (`node X[3]`)."""
        index = self.attributes.get(MAP_INDEX)
        return self.name if index is None else f"{self.name}[{index}]"

    @property
    def duration_ns(self) -> int:
        """How long the span lasted."""
        return self.end_ns - self.start_ns

    @property
    def span_type(self) -> str:
        """`run`, `node`, `model`, `retrieval`, `tool`, or `other` when not recorded."""
        value = self.attributes.get(SPAN_TYPE)
        return value if isinstance(value, str) and value else "other"

    @property
    def is_error(self) -> bool:
        """Whether the span ended with status ERROR."""
        return self.status == "ERROR"

    @property
    def is_invalid_output(self) -> bool:
        """Whether this is a model call whose answer did not validate."""
        message = self.status_message or ""
        return self.span_type == "model" and self.is_error and message.startswith(INVALID_OUTPUT)

    @property
    def error_message(self) -> str | None:
        """The exception message recorded on the span, else its status message."""
        for event in self.events:
            if event.name == "exception":
                kind = event.attributes.get("exception.type")
                message = event.attributes.get("exception.message")
                if kind or message:
                    return ": ".join(str(part) for part in (kind, message) if part)
        return self.status_message

    def number(self, key: str) -> float | None:
        """A numeric attribute, or None when missing or not a number."""
        value = self.attributes.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value


@dataclass(frozen=True)
class Trace:
    """The spans of one trace, ordered by start time, with the tree they form."""

    trace_id: str
    spans: tuple[SpanRecord, ...]

    @property
    def root(self) -> SpanRecord | None:
        """The run span (no parent), or None while the run has not finished."""
        return next((span for span in self.spans if span.parent_id is None), None)

    @property
    def start_ns(self) -> int:
        """When the first span started."""
        return min(span.start_ns for span in self.spans)

    @property
    def end_ns(self) -> int:
        """When the last span ended."""
        return max(span.end_ns for span in self.spans)

    @property
    def duration_ns(self) -> int:
        """The root's duration, else from the first start to the last end."""
        root = self.root
        return root.duration_ns if root is not None else self.end_ns - self.start_ns

    def parent_of(self, span: SpanRecord) -> str | None:
        """The span `span` is drawn under: its parent, or the map node's span for an element.

        An element of a mapped node (`node X[i]`) is drawn under its map's span (`node X`).
        """
        return self._map_parents.get(span.span_id) or span.parent_id

    @cached_property
    def _map_parents(self) -> dict[str, str]:
        """Each element span's map node span: the last one of its node started before it.

        Each element of a mapped node runs as its own task, so its span's parent is the run's.
        """
        found: dict[str, str] = {}
        latest: dict[tuple[str | None, str], str] = {}
        for span in self.spans:  # in start order
            node = span.attributes.get(MAP_NODE)
            if not isinstance(node, str):
                continue
            if span.attributes.get(MAP_INDEX) is None:
                latest[(span.parent_id, node)] = span.span_id
            elif (span.parent_id, node) in latest:
                found[span.span_id] = latest[(span.parent_id, node)]
        return found

    def children(self, span_id: str) -> tuple[SpanRecord, ...]:
        """The spans whose parent is `span_id`, by start time."""
        return self._children.get(span_id, ())

    @cached_property
    def _children(self) -> dict[str, tuple[SpanRecord, ...]]:
        found: dict[str, list[SpanRecord]] = {}
        for span in self.spans:
            parent = self.parent_of(span)
            if parent is not None and parent != span.span_id:
                found.setdefault(parent, []).append(span)
        return {parent: tuple(spans) for parent, spans in found.items()}

    def tops(self) -> tuple[SpanRecord, ...]:
        """Spans without a parent in this trace: the root, or orphans of a missing root."""
        ids = {span.span_id for span in self.spans}
        return tuple(
            span
            for span in self.spans
            if span.parent_id is None or span.parent_id not in ids or span.parent_id == span.span_id
        )

    def walk(self) -> Iterator[tuple[SpanRecord, int]]:
        """Every span once, depth first in start order, with its depth in the tree."""
        seen: set[str] = set()
        for top in (*self.tops(), *self.spans):
            if top.span_id not in seen:
                yield from self._walk_from(top, 0, seen)

    def _walk_from(
        self, span: SpanRecord, depth: int, seen: set[str]
    ) -> Iterator[tuple[SpanRecord, int]]:
        seen.add(span.span_id)
        yield span, depth
        for child in self.children(span.span_id):
            if child.span_id not in seen:
                yield from self._walk_from(child, depth + 1, seen)


@dataclass(frozen=True)
class TraceSummary:
    """One line about a trace: what `stepladder traces list` shows."""

    trace_id: str
    flow: str | None
    status: TraceStatus
    start_ns: int
    duration_ns: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    escalations: int
    span_count: int
    invalid_outputs: int = 0

    @property
    def started(self) -> datetime:
        """The start time, in UTC."""
        return datetime.fromtimestamp(self.start_ns / 1e9, tz=UTC)

    def to_json(self) -> dict[str, Any]:
        """The summary as a JSON-ready dict."""
        return {
            "trace_id": self.trace_id,
            "flow": self.flow,
            "status": self.status,
            "started": self.started.isoformat(),
            "duration_ms": round(self.duration_ns / 1e6, 3),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "escalations": self.escalations,
            "spans": self.span_count,
            "invalid_outputs": self.invalid_outputs,
        }


@dataclass(frozen=True)
class TraceStore:
    """The traces read from a trace store (a folder of span files, or Postgres).

    Attributes:
        folder: The folder of span files that was read (with Postgres: the project's
            traces folder, which nothing is written to).
        traces: The traces, newest first.
        malformed_lines: Lines skipped because they were not spans.
        source: Where the spans were read, for messages (None: `folder`).
        pages: Where `stepladder traces html` writes pages (None: `<folder>/html`).
    """

    folder: Path
    traces: tuple[Trace, ...]
    malformed_lines: int = 0
    source: str | None = None
    pages: Path | None = None

    @property
    def where(self) -> str:
        """Where the spans were read, for messages."""
        return self.source or str(self.folder)

    @property
    def pages_folder(self) -> Path:
        """Where HTML pages of traces go by default."""
        return self.pages or self.folder / "html"

    def summaries(self) -> list[TraceSummary]:
        """One summary per trace, newest first."""
        return [summarize(trace) for trace in self.traces]

    def find(self, id_or_prefix: str) -> Trace:
        """The trace whose id is, or uniquely starts with, `id_or_prefix`.

        Raises:
            UserError: No trace or several traces match.
        """
        prefix = id_or_prefix.strip().lower()
        if not prefix:
            raise UserError("give a trace id or the start of one (see `stepladder traces list`)")
        exact = [trace for trace in self.traces if trace.trace_id == prefix]
        matches = exact or [t for t in self.traces if t.trace_id.startswith(prefix)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            recent = ", ".join(t.trace_id[:12] for t in self.traces[:5]) or "none yet"
            raise UserError(
                f"no trace id starts with '{prefix}' in {self.where}; recent traces: {recent}"
            )
        shown = ", ".join(t.trace_id[:16] for t in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise UserError(
            f"'{prefix}' matches {len(matches)} traces ({shown}{more}); give more of the id"
        )


def read_spans(folder: Path) -> tuple[list[SpanRecord], int]:
    """Read every span in the folder's `*.jsonl` files; also returns the malformed line count."""
    spans: list[SpanRecord] = []
    malformed = 0
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if not line.strip():
                    continue
                try:
                    spans.append(SpanRecord.from_json(json.loads(line)))
                except ValueError:  # json.JSONDecodeError is a ValueError
                    malformed += 1
    return spans, malformed


class LoadsTraces(Protocol):
    """A project's trace store (`stepladder.tracing.sources.TraceSource`), as read here."""

    def load(self) -> TraceStore:
        """Every trace in the store, newest first."""
        ...


def load_traces(folder: Path | LoadsTraces) -> TraceStore:
    """Read a folder of span files (or a project's trace store) into traces, newest first.

    Raises:
        UserError: The folder does not exist (no run has been traced yet).
        StateStoreError: The store is in Postgres and cannot be read.
    """
    if not isinstance(folder, Path):
        return folder.load()
    if not folder.is_dir():
        raise UserError(f"no traces yet (no {folder}): run a flow with `stepladder run`")
    spans, malformed = read_spans(folder)
    return traces_of(spans, folder, malformed)


def traces_of(
    spans: list[SpanRecord],
    folder: Path,
    malformed: int = 0,
    *,
    source: str | None = None,
    pages: Path | None = None,
) -> TraceStore:
    """Group spans into traces, newest first (see `TraceStore` for the other arguments)."""
    by_trace: dict[str, dict[str, SpanRecord]] = {}
    for span in spans:  # a span written twice (a retried export) counts once: the last wins
        by_trace.setdefault(span.trace_id, {})[span.span_id] = span
    traces = [
        Trace(trace_id, tuple(sorted(found.values(), key=lambda s: (s.start_ns, s.span_id))))
        for trace_id, found in by_trace.items()
    ]
    traces.sort(key=lambda trace: (trace.start_ns, trace.trace_id), reverse=True)
    return TraceStore(
        folder=folder, traces=tuple(traces), malformed_lines=malformed,
        source=source, pages=pages,
    )  # fmt: skip


def find_trace(folder: Path | LoadsTraces, id_or_prefix: str) -> Trace:
    """The trace in `folder` whose id is, or uniquely starts with, `id_or_prefix`.

    Raises:
        UserError: The folder is missing, or no trace or several traces match.
    """
    return load_traces(folder).find(id_or_prefix)


def summarize(trace: Trace) -> TraceSummary:
    """Status, timing, tokens, cost, escalations and invalid outputs of a trace.

    Totals come from the root span's attributes when it has them, else they are added up over
    the model-call spans (the root is missing while a run is unfinished).
    """
    root = trace.root
    models = [span for span in trace.spans if span.span_type == "model"]
    escalations = _root_number(root, ESCALATIONS)
    if escalations is None:
        escalations = sum(1 for span in trace.spans if span.attributes.get(ESCALATION_REASON))
    return TraceSummary(
        trace_id=trace.trace_id,
        flow=_flow_name(trace),
        status=_status(root),
        start_ns=trace.start_ns,
        duration_ns=trace.duration_ns,
        input_tokens=int(_total(root, models, RUN_INPUT_TOKENS, INPUT_TOKENS)),
        output_tokens=int(_total(root, models, RUN_OUTPUT_TOKENS, OUTPUT_TOKENS)),
        cost_usd=float(_total(root, models, COST, COST)),
        escalations=int(escalations),
        span_count=len(trace.spans),
        invalid_outputs=sum(1 for span in trace.spans if span.is_invalid_output),
    )


def _status(root: SpanRecord | None) -> TraceStatus:
    if root is None:
        return "incomplete"
    return "error" if root.is_error else "ok"


def _flow_name(trace: Trace) -> str | None:
    for span in (trace.root, *trace.spans):
        value = span.attributes.get(FLOW_NAME) if span is not None else None
        if isinstance(value, str) and value:
            return value
    return None


def _root_number(root: SpanRecord | None, key: str) -> float | None:
    return root.number(key) if root is not None else None


def _total(
    root: SpanRecord | None, models: list[SpanRecord], root_key: str, span_key: str
) -> float:
    value = _root_number(root, root_key)
    if value is not None:
        return value
    return sum(span.number(span_key) or 0 for span in models)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _mapping(value: Any) -> dict[str, Any]:
    return {str(key): item for key, item in value.items()} if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _event(value: Any) -> SpanEvent:
    data = _mapping(value)
    time_ns = data.get("time_ns")
    return SpanEvent(
        name=str(data.get("name") or "event"),
        time_ns=time_ns if _is_int(time_ns) else 0,
        attributes=_mapping(data.get("attributes")),
    )
