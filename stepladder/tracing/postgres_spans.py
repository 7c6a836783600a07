"""The trace store in Postgres (`state.postgres`): one row per span, in `stepladder_spans`.

Each row keeps the span's JSON line as the JSONL store writes it (`exporter.span_line`), keyed
by trace and span id (a span written twice, by a retried batch, keeps its last version), so
every process on the database, on any machine, writes to and reads from the same traces. The
table is created by the state store's migrations (`stepladder.state.postgres`).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import orjson

from stepladder.config.state import masked_url
from stepladder.errors import StateStoreError
from stepladder.tracing.store import SpanRecord, TraceStore, traces_of

__all__ = ["PostgresSpanWriter", "PostgresTraces"]

logger = logging.getLogger(__name__)

_UPSERT = (
    "INSERT INTO stepladder_spans (trace_id, span_id, start_ns, data) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (trace_id, span_id) DO UPDATE SET start_ns = EXCLUDED.start_ns, "
    "data = EXCLUDED.data"
)


class PostgresTraces:
    """The spans of every process on one Postgres database.

    Args:
        url: The state store's URL.
        folder: The project's span folder (named in messages; nothing is written there).
        pages: Where `stepladder traces html` writes pages.
    """

    def __init__(self, url: str, folder: Path, pages: Path) -> None:
        self.url = url
        self.folder = folder
        self.pages = pages

    @property
    def where(self) -> str:
        """The database, its password masked."""
        return f"the Postgres trace store at {masked_url(self.url)}"

    def __str__(self) -> str:
        return self.where

    def writer(self) -> PostgresSpanWriter:
        """A writer of spans into `stepladder_spans`."""
        return PostgresSpanWriter(self.url)

    def has_traces(self) -> bool:
        """Whether any span was written."""
        return bool(self._read("SELECT EXISTS (SELECT 1 FROM stepladder_spans)")[0][0])

    def load(self) -> TraceStore:
        """Every trace in the database, newest first (a row that is not a span is counted)."""
        spans: list[SpanRecord] = []
        malformed = 0
        for (data,) in self._read("SELECT data FROM stepladder_spans"):
            try:
                spans.append(SpanRecord.from_json(orjson.loads(data)))
            except ValueError:  # orjson.JSONDecodeError is a ValueError
                malformed += 1
        return traces_of(spans, self.folder, malformed, source=self.where, pages=self.pages)

    def signature(self) -> Hashable:
        """How many spans there are and the newest write."""
        rows = self._read("SELECT count(*), coalesce(max(seq), 0) FROM stepladder_spans")
        return (int(rows[0][0]), int(rows[0][1]))

    def _read(self, query: str) -> list[tuple[Any, ...]]:
        from stepladder.state.transactions import in_state  # lazy: imports the flows package

        return in_state(
            self.url, lambda connection: connection.execute(query).fetchall(), "reading traces"
        )


class PostgresSpanWriter:
    """Writes batches of span lines as rows of `stepladder_spans` (one transaction a batch).

    A batch that cannot be written (the database is down past the retries) is dropped and
    logged, as the JSONL store drops a batch it cannot write; runs go on.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.dropped = 0

    def write(self, lines: bytes) -> bool:
        """Insert the spans of `lines` (JSON lines); False if the database refused them."""
        rows = [_row(line) for line in lines.splitlines() if line.strip()]
        if not rows:
            return True
        from stepladder.state.transactions import in_state  # lazy: imports the flows package

        def insert(connection: Any) -> None:
            with connection.cursor() as cursor:
                cursor.executemany(_UPSERT, rows)

        try:
            in_state(self.url, insert, "writing spans")
        except StateStoreError as error:
            self.dropped += len(rows)
            logger.warning("dropped %d span(s): %s", len(rows), error)
            return False
        return True

    def shutdown(self) -> None:
        """Nothing to close: the connections are the process's pool's."""


def _row(line: bytes) -> tuple[str, str, int, str]:
    """The key columns and text of one span line (`exporter.span_line` wrote it)."""
    data = orjson.loads(line)
    return (str(data["trace_id"]), str(data["span_id"]), int(data["start_ns"]), line.decode())
