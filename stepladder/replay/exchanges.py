"""The model calls a node makes, seen through a DSPy callback: each request and response.

`capture(log)` adds a callback for the block's DSPy LM calls (a context variable, so the calls
of concurrent nodes do not mix). Each call becomes one exchange: the request (model, messages,
`response_format` schema, the DSPy adapter, the LoRA adapter chosen in the body, sampling) and
the response (outputs, usage, response model, finish reasons). Keys that carry credentials
(`api_key`, `api_base` parameters, headers) are dropped; values are masked again when the
record is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic_core import to_jsonable_python

from stepladder.tracing.genai import finish_reasons

__all__ = ["ExchangeLog", "capture"]

_DROPPED = ("api_key", "api_base", "headers", "extra_headers", "authorization", "token")
_CALLBACK: Any = None


class ExchangeLog:
    """The exchanges of one node call, in the order the calls ended."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self._open: dict[str, dict[str, Any]] = {}

    def started(self, call_id: str, lm: Any, inputs: Mapping[str, Any]) -> None:
        """An LM call began: keep its request."""
        import dspy  # lazy: only runs inside a DSPy call, DSPy is loaded then

        kwargs = dict(inputs.get("kwargs") or {})
        settings = {**dict(getattr(lm, "kwargs", {}) or {}), **kwargs}
        adapter = dspy.settings.get("adapter")
        request = {
            "model": str(getattr(lm, "model", "")),
            "model_type": str(getattr(lm, "model_type", "")),
            "adapter": type(adapter).__name__ if adapter is not None else "ChatAdapter",
            "messages": inputs.get("messages") or [],
            "prompt": inputs.get("prompt"),
            "schema": settings.pop("response_format", None),
            "lora": (settings.get("extra_body") or {}).get("lora"),
            "sampling": _clean(settings),
        }
        self._open[call_id] = {"lm": lm, "request": _json(request)}

    def ended(self, call_id: str, outputs: Any, exception: Exception | None) -> None:
        """An LM call returned (or failed): keep its response next to its request."""
        opened = self._open.pop(call_id, None)
        if opened is None:
            return
        entry = _history_entry(opened["lm"], outputs)
        response: dict[str, Any] = {
            "outputs": _json(outputs),
            "usage": _json(entry.get("usage") or {}),
            "response_model": entry.get("response_model"),
            "finish_reasons": finish_reasons(entry.get("response")),
        }
        if exception is not None:
            response["error"] = f"{type(exception).__name__}: {exception}"
        self.exchanges.append({"request": opened["request"], "response": response})


@contextmanager
def capture(log: ExchangeLog) -> Iterator[None]:
    """Feed `log` with the DSPy LM calls made inside the block."""
    import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

    callbacks = list(dspy.settings.get("callbacks") or [])
    with dspy.context(callbacks=[*callbacks, _callback(log)]):
        yield


def _clean(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in settings.items() if k.lower() not in _DROPPED and "key" not in k.lower()
    }


def _json(value: Any) -> Any:
    return to_jsonable_python(value, fallback=repr)


def _history_entry(lm: Any, outputs: Any) -> dict[str, Any]:
    """The LM's history entry of the call that returned `outputs` (the same list object)."""
    for entry in reversed(getattr(lm, "history", None) or []):
        if isinstance(entry, dict) and entry.get("outputs") is outputs:
            return entry
    return {}


def _callback(log: ExchangeLog) -> Any:
    """A DSPy callback feeding `log` (its class is made on first use: DSPy is slow)."""
    global _CALLBACK
    if _CALLBACK is None:
        from dspy.utils.callback import BaseCallback  # lazy: DSPy takes seconds to import

        class ExchangeCallback(BaseCallback):  # type: ignore[misc]
            """Hands the LM calls it sees to an `ExchangeLog`."""

            def __init__(self, log: ExchangeLog) -> None:
                self.log = log

            def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
                self.log.started(call_id, instance, inputs)

            def on_lm_end(
                self, call_id: str, outputs: Any, exception: Exception | None = None
            ) -> None:
                self.log.ended(call_id, outputs, exception)

        _CALLBACK = ExchangeCallback
    return _CALLBACK(log)
