"""What a model call sent and got back, put on its span as the GenAI conventions ask.

An `Exchange` listens to the DSPy LM calls made inside its block (a DSPy callback, so calls
of concurrent nodes on one shared LM do not mix) and, on leaving, sets on the model span
`gen_ai.response.model` and `gen_ai.response.finish_reasons`, and, when content capture is
on, `gen_ai.input.messages` and `gen_ai.output.messages` (see `stepladder.tracing.genai`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import Span

from stepladder.prompts import constrained_adapter
from stepladder.runtimes.pool import BoundTier
from stepladder.tracing import attributes as names
from stepladder.tracing.genai import (
    finish_reasons,
    input_messages,
    output_messages,
    provider_name,
)
from stepladder.tracing.setup import Tracing

__all__ = ["Exchange", "lm_call", "provider_of"]

_RECORDER: Any = None


class Exchange:
    """The last LM call seen: its messages, outputs, response model and finish reasons."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.outputs: list[Any] = []
        self.response_model: str | None = None
        self.finish_reasons: list[str] = []
        self._started: dict[str, tuple[Any, dict[str, Any]]] = {}

    def started(self, call_id: str, lm: Any, inputs: dict[str, Any]) -> None:
        """An LM call began with these inputs (`messages`, or a `prompt`)."""
        self._started[call_id] = (lm, inputs)
        messages = inputs.get("messages")
        if not messages and inputs.get("prompt") is not None:
            messages = [{"role": "user", "content": str(inputs["prompt"])}]
        self.messages = [dict(m) for m in messages or [] if isinstance(m, dict)]
        self.outputs, self.response_model, self.finish_reasons = [], None, []

    def ended(self, call_id: str, outputs: Any) -> None:
        """An LM call returned `outputs`; its history entry holds the raw response."""
        lm, _ = self._started.pop(call_id, (None, {}))
        self.outputs = list(outputs) if isinstance(outputs, list | tuple) else []
        entry = _history_entry(lm, outputs)
        self.response_model = entry.get("response_model")
        self.finish_reasons = finish_reasons(entry.get("response"))

    def put_on(self, span: Span, capture_content: bool) -> None:
        """Set what was seen on `span` (messages only with `capture_content`)."""
        if not span.is_recording():
            return
        if self.response_model:
            span.set_attribute(names.GEN_AI_RESPONSE_MODEL, str(self.response_model))
        if self.finish_reasons:
            span.set_attribute(names.GEN_AI_FINISH_REASONS, self.finish_reasons)
        if capture_content and self.messages:
            span.set_attribute(names.GEN_AI_INPUT_MESSAGES, input_messages(self.messages))
        if capture_content and self.outputs:
            output = output_messages(self.outputs, self.finish_reasons)
            span.set_attribute(names.GEN_AI_OUTPUT_MESSAGES, output)


def provider_of(bound: BoundTier) -> str:
    """`gen_ai.provider.name` of a tier's calls: its runtime, or its API model's provider."""
    return provider_name(str(getattr(bound.settings, "runtime", "")), bound.endpoint.model)


@contextmanager
def lm_call(bound: BoundTier, tracing: Tracing | None, span: Span) -> Iterator[None]:
    """DSPy's context for one model call on `bound`, its exchange put on `span` at the end.

    The LM, the constrained JSON adapter and usage tracking are set; a recording span also
    gets a callback that sees the call (nothing is listened to when the span is not recorded).
    """
    import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

    settings: dict[str, Any] = {"lm": bound.lm, "adapter": constrained_adapter()}
    exchange = Exchange() if tracing is not None and span.is_recording() else None
    if exchange is not None:
        callbacks = list(dspy.settings.get("callbacks") or [])
        settings["callbacks"] = [*callbacks, _recorder(exchange)]
    try:
        with dspy.context(**settings, track_usage=True):
            yield
    finally:
        if exchange is not None and tracing is not None:
            exchange.put_on(span, tracing.capture_content)


def _history_entry(lm: Any, outputs: Any) -> dict[str, Any]:
    """The LM's history entry of the call that returned `outputs` (the same list object)."""
    for entry in reversed(getattr(lm, "history", None) or []):
        if isinstance(entry, dict) and entry.get("outputs") is outputs:
            return entry
    return {}


def _recorder(exchange: Exchange) -> Any:
    """A DSPy callback feeding `exchange` (its class is made on first use: DSPy is slow)."""
    global _RECORDER
    if _RECORDER is None:
        from dspy.utils.callback import BaseCallback  # lazy: DSPy takes seconds to import

        class ExchangeRecorder(BaseCallback):  # type: ignore[misc]
            """Hands the LM calls it sees to an `Exchange`."""

            def __init__(self, exchange: Exchange) -> None:
                self.exchange = exchange

            def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
                self.exchange.started(call_id, instance, inputs)

            def on_lm_end(
                self, call_id: str, outputs: Any, exception: Exception | None = None
            ) -> None:
                if exception is None:
                    self.exchange.ended(call_id, outputs)

        _RECORDER = ExchangeRecorder
    return _RECORDER(exchange)
