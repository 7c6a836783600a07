"""The local trace store's writer: spans as JSON lines in size-rotated files.

Each line is one span: `trace_id`, `span_id`, `parent_id`, `name`, `kind`, `start_ns`,
`end_ns`, `status`, `status_message`, `attributes`, `events` and `resource`. Files are named
`spans-<UTC time>-<pid>-<n>.jsonl`; past `max_bytes` a new file starts, and only the newest
`keep_files` are kept.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["JsonlSpanExporter", "span_line", "span_record"]

PREFIX = "spans-"
NEWLINE = orjson.OPT_APPEND_NEWLINE


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A span as the JSON-ready dict the store writes."""
    context = span.context
    assert context is not None
    parent = span.parent
    status = span.status
    attributes = span.attributes
    return {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": status.status_code.name,
        "status_message": status.description,
        "attributes": attributes if type(attributes) is dict else dict(attributes or {}),
        "events": [
            {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in span.events
        ],
        "resource": _resource_attributes(span.resource),
    }


def span_line(span: ReadableSpan) -> bytes:
    """A span as one JSON line (newline included)."""
    record = span_record(span)
    try:
        return orjson.dumps(record, default=str, option=NEWLINE)
    except TypeError:  # text UTF-8 cannot hold (a lone surrogate), or a key that is not a str
        return orjson.dumps(_utf8_safe(record), default=str, option=NEWLINE)


def _utf8_safe(value: Any) -> Any:
    r"""`value` with strings UTF-8 can encode (lone surrogates as `\udxxx`) and str keys."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_utf8_safe(str(key)): _utf8_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_utf8_safe(item) for item in value]
    return value


_resources: dict[int, tuple[Resource, dict[str, Any]]] = {}


def _resource_attributes(resource: Resource) -> dict[str, Any]:
    """A resource's attributes, converted once per resource (every span shares one)."""
    known = _resources.get(id(resource))
    if known is None or known[0] is not resource:
        known = (resource, dict(resource.attributes))
        _resources[id(resource)] = known
    return known[1]


class JsonlSpanExporter(SpanExporter):
    """Writes spans to JSONL files in `folder`, rotating by size.

    Args:
        folder: Where span files go (created on first export).
        max_bytes: Start a new file once the current one is this large.
        keep_files: How many span files to keep; the oldest are deleted.
    """

    def __init__(self, folder: Path, max_bytes: int = 20_000_000, keep_files: int = 50) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.keep_files = keep_files
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append the spans, one JSON line each."""
        ok = self.write(b"".join(span_line(s) for s in spans))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def write(self, lines: bytes) -> bool:
        """Append ready JSON lines (from `span_line`); False if the file cannot be written."""
        try:
            with self._lock:
                handle = self._current()
                handle.write(lines)
                handle.flush()
        except OSError:
            return False
        return True

    def shutdown(self) -> None:
        """Close the current file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Everything is flushed as it is written."""
        return True

    @property
    def path(self) -> Path | None:
        """The file being written, once there is one."""
        return self._path

    def _current(self) -> IO[bytes]:
        if self._file is not None and self._file.tell() < self.max_bytes:
            return self._file
        if self._file is not None:
            self._file.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._count += 1
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self._path = self.folder / f"{PREFIX}{stamp}-{os.getpid()}-{self._count}.jsonl"
        self._file = self._path.open("ab")
        self._prune()
        return self._file

    def _prune(self) -> None:
        files = sorted(self.folder.glob(f"{PREFIX}*.jsonl"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(len(files) - self.keep_files, 0)]:
            if old != self._path:
                old.unlink(missing_ok=True)
