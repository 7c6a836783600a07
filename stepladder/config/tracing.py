"""Tracing settings: where spans go and how much of each input and output they keep.

```yaml
tracing:
  enabled: true              # `stepladder run`, `eval` and `serve` trace by default
  dir: traces                # under the state folder: .stepladder/traces/*.jsonl
  preview_chars: 2000        # inputs/outputs are kept as previews cut to this length
  redact: false              # true: previews become "[redacted]"
  capture_content: false     # true: model spans keep the messages sent and the completions
```
Spans also go to an OTLP endpoint when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Message content
is opt-in, as the OpenTelemetry GenAI conventions ask: `capture_content: true`, or
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` in the environment (`redact: true`
keeps it off either way). Secrets are masked in it like everywhere in a span.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TracingSettings"]


class TracingSettings(BaseModel):
    """OpenTelemetry tracing of runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Trace runs (spans to JSONL, OTLP if set).")
    dir: str = Field(default="traces", description="Span files' folder, under `state_dir`.")
    max_file_mb: float = Field(default=20.0, gt=0, description="Rotate a span file past this.")
    keep_files: int = Field(default=50, ge=1, description="Span files kept; older are deleted.")
    preview_chars: int = Field(
        default=2000, ge=0, description="Longest input/output preview kept on a span."
    )
    redact: bool = Field(default=False, description="Mask input/output previews in spans.")
    capture_content: bool = Field(
        default=False,
        description="Record each model call's messages and completions on its span "
        "(`gen_ai.input.messages`, `gen_ai.output.messages`); off by default, also in "
        "`stepladder serve`. OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true turns "
        "it on too.",
    )
