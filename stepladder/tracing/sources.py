"""Where a project's spans are kept: span files (the default) or Postgres (`state.postgres`).

`trace_source` picks the store from the project's settings; everything that writes spans (the
tracer's processor) or reads them back (`stepladder traces`, `drift`, `capture`, the studio)
goes through the `TraceSource` it returns, never through a folder of its own choosing.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stepladder.config.tracing import TracingSettings
from stepladder.tracing.store import TraceStore, load_traces

__all__ = ["PAGES_DIR", "SpanWriter", "TraceFiles", "TraceSource", "trace_source"]

PAGES_DIR = "trace-pages"
"""Where `stepladder traces html` writes pages when the spans are in Postgres."""


class SpanWriter(Protocol):
    """Takes finished spans as JSON lines (`exporter.span_line`), in batches."""

    def write(self, lines: bytes) -> bool:
        """Store the lines; False if they could not be stored (they are dropped)."""
        ...

    def shutdown(self) -> None:
        """Let go of files or connections."""
        ...


class TraceSource(Protocol):
    """A trace store: spans are written to it and read back from it as traces."""

    @property
    def where(self) -> str:
        """Where the spans are, for messages."""
        ...

    def writer(self) -> SpanWriter:
        """A writer of spans into this store."""
        ...

    def has_traces(self) -> bool:
        """Whether anything was traced yet (False: `load` would say so)."""
        ...

    def load(self) -> TraceStore:
        """Every trace, newest first.

        Raises:
            UserError: Nothing was traced yet.
            StateStoreError: The store is in Postgres and cannot be read.
        """
        ...

    def signature(self) -> Hashable:
        """A value that changes whenever spans are written (readers cache on it)."""
        ...

    def __str__(self) -> str:
        """`where`."""
        ...


@dataclass(frozen=True)
class TraceFiles:
    """Span files in a folder (`.stepladder/traces/*.jsonl`), rotated by size."""

    folder: Path
    max_bytes: int = 20_000_000
    keep_files: int = 50

    @property
    def where(self) -> str:
        """The folder."""
        return str(self.folder)

    def __str__(self) -> str:
        return self.where

    def writer(self) -> SpanWriter:
        """A JSONL writer into the folder."""
        from stepladder.tracing.exporter import JsonlSpanExporter  # lazy: the OpenTelemetry SDK

        return JsonlSpanExporter(self.folder, self.max_bytes, self.keep_files)

    def has_traces(self) -> bool:
        """Whether the folder exists."""
        return self.folder.is_dir()

    def load(self) -> TraceStore:
        """Every trace in the folder's span files."""
        return load_traces(self.folder)

    def signature(self) -> Hashable:
        """The span files' names, times and sizes."""
        return tuple(
            (path.name, stat.st_mtime_ns, stat.st_size)
            for path in sorted(self.folder.glob("*.jsonl"))
            for stat in (path.stat(),)
        )


def trace_source(
    settings: TracingSettings, state_dir: Path, postgres: str | None = None
) -> TraceSource:
    """The project's trace store: Postgres when `postgres` (`state.postgres`) is set, else files.

    Args:
        settings: The project's tracing settings (the span folder and its rotation).
        state_dir: The project's state folder (`.stepladder`).
        postgres: The state store's URL, if the project has one.
    """
    folder = state_dir / settings.dir
    if postgres:
        from stepladder.tracing.postgres_spans import PostgresTraces  # lazy: optional extra

        return PostgresTraces(postgres, folder, state_dir / PAGES_DIR)
    return TraceFiles(folder, int(settings.max_file_mb * 1_000_000), settings.keep_files)
