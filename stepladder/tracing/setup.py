"""`Tracing`: stepladder's own OpenTelemetry tracer provider, per command or per test.

stepladder never touches the global tracer provider, so an application's own tracing set-up
is left alone. Spans go through `JsonlBatchProcessor` (a batch processor that serializes each span
as it ends and writes in batches from a background thread) to the project's trace store (JSONL
files, or Postgres with `state.postgres`) and, when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, through OpenTelemetry's
`BatchSpanProcessor` to that OTLP endpoint too
(`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, the default, or `grpc`).
"""

from __future__ import annotations

import os
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from stepladder.config.secrets import register_environment
from stepladder.config.tracing import TracingSettings
from stepladder.errors import ConfigError
from stepladder.tracing.attributes import Previews
from stepladder.tracing.genai import capture_from_environment
from stepladder.tracing.processor import JsonlBatchProcessor
from stepladder.tracing.recorded import RecordingTracer
from stepladder.tracing.sources import TraceFiles, trace_source
from stepladder.version import __version__

__all__ = ["Tracing", "otlp_exporter"]

SERVICE_NAME = "stepladder"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


class Tracing:
    """A tracer provider and how spans keep inputs and outputs.

    stepladder's spans are opened by a `RecordingTracer` that hands them to the provider's
    processors (see `stepladder.tracing.recorded`); the provider flushes and shuts them down.
    The environment's secrets (`*_KEY`, `*_TOKEN`, `*_SECRET`) are registered first, so every
    span has them masked.

    Args:
        provider: The provider whose processors get the spans; None traces nothing.
        previews: How inputs and outputs are cut or masked on spans.
        folder: The span files' folder, when spans are written there (not to Postgres).
        capture_content: Record model calls' messages and completions on their spans (the
            GenAI conventions' opt-in); never while previews are redacted.
    """

    def __init__(
        self,
        provider: TracerProvider | None,
        previews: Previews | None = None,
        folder: Path | None = None,
        capture_content: bool = False,
    ) -> None:
        self.provider = provider
        self.previews = previews or Previews()
        self.folder = folder
        self.capture_content = capture_content and not self.previews.redact
        if provider is not None:
            register_environment()
        self.tracer: trace.Tracer = (
            _recording_tracer(provider)
            if provider is not None
            else trace.NoOpTracerProvider().get_tracer("stepladder")
        )

    @property
    def enabled(self) -> bool:
        """Whether spans are recorded."""
        return self.provider is not None

    @classmethod
    def for_project(
        cls,
        settings: TracingSettings,
        state_dir: Path,
        project: str = "",
        postgres: str | None = None,
    ) -> Tracing:
        """Tracing as `stepladder.yaml` sets it: the trace store, plus OTLP when configured.

        The store is the project's (`trace_source`): span files under `state_dir`, or the
        Postgres database `postgres` (`state.postgres`) when it is set.
        """
        if not settings.enabled:
            return cls(None)
        source = trace_source(settings, state_dir, postgres)
        folder = source.folder if isinstance(source, TraceFiles) else None
        provider = _provider(project)
        provider.add_span_processor(JsonlBatchProcessor(source.writer()))
        remote = otlp_exporter()
        if remote is not None:
            provider.add_span_processor(BatchSpanProcessor(remote))
        previews = Previews(settings.preview_chars, settings.redact)
        capture = settings.capture_content or capture_from_environment()
        return cls(provider, previews, folder, capture)

    @classmethod
    def with_exporter(
        cls,
        exporter: SpanExporter,
        *,
        batch: bool = False,
        previews: Previews | None = None,
        capture_content: bool | None = None,
    ) -> Tracing:
        """Tracing into one exporter (tests use the SDK's `InMemorySpanExporter`).

        `capture_content` None follows `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`.
        """
        provider = _provider("")
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        capture = capture_from_environment() if capture_content is None else capture_content
        return cls(provider, previews, capture_content=capture)

    def flush(self) -> None:
        """Export every finished span now."""
        if self.provider is not None:
            self.provider.force_flush()

    def shutdown(self) -> None:
        """Flush and close the exporters."""
        if self.provider is not None:
            self.provider.shutdown()


def otlp_exporter() -> SpanExporter | None:
    """The OTLP exporter the standard `OTEL_EXPORTER_OTLP_*` variables ask for, if any."""
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        return None
    protocol = next((os.environ[n] for n in PROTOCOL_VARIABLES if os.environ.get(n)), "")
    try:
        if protocol.strip() == "grpc":
            # Lazy: gRPC is slow to import, and only an OTLP endpoint asking for it needs it.
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            return GrpcExporter()
        # Lazy: loaded only when an OTLP endpoint is set (a missing exporter is a ConfigError).
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    except ImportError as error:
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is missing ({error}); "
            "pip install opentelemetry-exporter-otlp, or unset the variable."
        ) from error


def _provider(project: str) -> TracerProvider:
    """A provider whose processors `RecordingTracer` can hand spans to."""
    return TracerProvider(
        resource=_resource(project),
        sampler=ALWAYS_ON,
        active_span_processor=SynchronousMultiSpanProcessor(),  # type: ignore[no-untyped-call]
    )


def _recording_tracer(provider: TracerProvider) -> RecordingTracer:
    processor = provider._active_span_processor  # the processor the provider owns
    scope = InstrumentationScope("stepladder", __version__)
    return RecordingTracer(processor, provider.resource, scope)


def _resource(project: str) -> Resource:
    attributes: dict[str, str] = {"service.name": SERVICE_NAME}
    if project:
        attributes["stepladder.project"] = project
    return Resource.create(attributes)
