"""`JsonlBatchProcessor`: the trace store's batch span processor (span files, or Postgres).

Like OpenTelemetry's `BatchSpanProcessor` it keeps file I/O off the caller's path: a background
thread writes in batches (every `max_batch` spans or `delay_s` seconds). Unlike it, each span is
turned into its JSON line when it ends, on the caller's thread, and only the line waits in the
queue. Keeping the finished span objects queued instead cost more than serializing them at once:
about 38 against 25 microseconds a span on 2 CPU cores (`benchmarks/tracing.py`).
"""

from __future__ import annotations

import collections
import logging
import threading

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from stepladder.tracing.exporter import span_line
from stepladder.tracing.sources import SpanWriter

__all__ = ["JsonlBatchProcessor"]

logger = logging.getLogger(__name__)


class JsonlBatchProcessor(SpanProcessor):
    """Serializes each ended span and writes the lines to the trace store in batches.

    Args:
        exporter: The store's writer (a `JsonlSpanExporter`, or Postgres's).
        max_batch: Wake the writer once this many lines wait.
        delay_s: Write at least this often while lines wait.
        max_queue: Lines kept at most; beyond it new spans are dropped (and counted).
    """

    def __init__(
        self,
        exporter: SpanWriter,
        max_batch: int = 512,
        delay_s: float = 2.0,
        max_queue: int = 65536,
    ) -> None:
        self.exporter = exporter
        self.max_batch = max_batch
        self.delay_s = delay_s
        self.max_queue = max_queue
        self.dropped = 0
        self._lines: collections.deque[bytes] = collections.deque()
        self._wake = threading.Event()
        self._write_lock = threading.Lock()
        self._stopped = False
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the span's JSON line; wake the writer when a batch is ready."""
        if self._stopped or not span.context.trace_flags.sampled:
            return
        if len(self._lines) >= self.max_queue:
            self.dropped += 1
            if self.dropped == 1:
                logger.warning("trace store queue full: dropping spans")
            return
        self._lines.append(span_line(span))
        if self._worker is None:
            self._start_worker()
        if len(self._lines) >= self.max_batch:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Write every waiting line now."""
        return self._drain()

    def shutdown(self) -> None:
        """Write what waits, stop the writer and close the file."""
        self._stopped = True
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=10)
        self._drain()
        self.exporter.shutdown()

    def _start_worker(self) -> None:
        with self._start_lock:
            if self._worker is None:
                worker = threading.Thread(target=self._run, name="stepladder-traces", daemon=True)
                worker.start()
                self._worker = worker

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.delay_s)
            self._wake.clear()
            self._drain()

    def _drain(self) -> bool:
        with self._write_lock:
            batch: list[bytes] = []
            while self._lines:
                batch.append(self._lines.popleft())
            return self.exporter.write(b"".join(batch)) if batch else True
