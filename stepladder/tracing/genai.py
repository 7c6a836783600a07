"""The OpenTelemetry GenAI conventions' shapes: provider names, finish reasons and messages.

Messages go on a model span only when content capture is on (`tracing.capture_content: true`
or `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`), as the conventions' JSON:
`gen_ai.input.messages` is a list of `{"role", "parts": [{"type": "text", "content"}]}`, and
`gen_ai.output.messages` the same for the completions, each with its `finish_reason`.
Secrets are masked in every text before it is encoded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from stepladder.config.secrets import scrub

__all__ = [
    "CAPTURE_VARIABLE",
    "capture_from_environment",
    "finish_reasons",
    "input_messages",
    "output_messages",
    "provider_name",
]

CAPTURE_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
OTHER = "_OTHER"

RUNTIME_PROVIDERS = {"llamacpp": "llama.cpp", "sglang": "sglang"}
"""`gen_ai.provider.name` of the self-hosted runtimes (not among the conventions' values)."""

LITELLM_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "groq": "groq",
    "watsonx": "ibm.watsonx.ai",
    "mistral": "mistral_ai",
    "perplexity": "perplexity",
    "xai": "x_ai",
}
"""LiteLLM's provider prefixes and the conventions' names for them."""


def provider_name(runtime: str, model: str) -> str:
    """`gen_ai.provider.name` for a tier: its runtime, or its API model's provider.

    A key-less `openai-compatible` server is `openai-compatible` (it speaks OpenAI's API but
    is not OpenAI); an unknown provider is `_OTHER`, as the conventions ask.
    """
    if runtime in RUNTIME_PROVIDERS:
        return RUNTIME_PROVIDERS[runtime]
    if runtime == "openai-compatible":
        return runtime
    prefix = model.split("/", 1)[0] if "/" in model else ""
    return LITELLM_PROVIDERS.get(prefix, OTHER)


def capture_from_environment(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` asks for message content."""
    value = (environ if environ is not None else os.environ).get(CAPTURE_VARIABLE, "")
    return value.strip().lower() in ("true", "1", "yes", "on")


def finish_reasons(response: Any) -> list[str]:
    """The finish reason of each choice of a response (an OpenAI-style one, or DSPy's)."""
    reasons: list[str] = []
    items = response if isinstance(response, list | tuple) else [response]
    for item in items:
        choices = _field(item, "choices")
        for choice in choices if isinstance(choices, list | tuple) else [item]:
            reason = _field(choice, "finish_reason")
            if reason:
                reasons.append(str(getattr(reason, "value", reason)))
    return reasons


def input_messages(messages: Iterable[Mapping[str, Any]]) -> str:
    """Chat messages (OpenAI style) as `gen_ai.input.messages` JSON."""
    return _dumps([{"role": str(m.get("role", "user")), "parts": _parts(m)} for m in messages])


def output_messages(outputs: Sequence[Any], reasons: Sequence[str]) -> str:
    """Completions (texts, or DSPy's dicts with `text`) as `gen_ai.output.messages` JSON."""
    messages = []
    for index, output in enumerate(outputs):
        text = output.get("text") if isinstance(output, Mapping) else output
        parts = [] if text is None else [_text(str(text))]
        if isinstance(output, Mapping):
            parts.extend(_tool_calls(output.get("tool_calls")))
        reason = reasons[index] if index < len(reasons) else (reasons[-1] if reasons else "")
        messages.append({"role": "assistant", "parts": parts, "finish_reason": reason})
    return _dumps(messages)


def _parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    parts: list[dict[str, Any]] = []
    if isinstance(content, str):
        parts.append(_text(content))
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                parts.append(_text(str(part.get("text", ""))))
            elif isinstance(part, Mapping):
                parts.append({"type": str(part.get("type", "unknown"))})
    parts.extend(_tool_calls(message.get("tool_calls")))
    if message.get("role") == "tool":
        parts = [{"type": "tool_call_response", "id": message.get("tool_call_id"),
                  "response": scrub(str(content))}]  # fmt: skip
    return parts


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    parts = []
    for call in calls or []:
        function = _field(call, "function") or {}
        parts.append({
            "type": "tool_call",
            "id": _field(call, "id"),
            "name": _field(function, "name"),
            "arguments": scrub(str(_field(function, "arguments") or "")),
        })  # fmt: skip
    return parts


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": scrub(content)}


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
