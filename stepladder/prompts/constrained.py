"""Structured output small models cannot break.

The output fields' JSON Schema is sent as `response_format` (json_schema), the server enforces
it while decoding (llama.cpp grammars, SGLang's xgrammar), and pydantic validates the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, create_model

if TYPE_CHECKING:
    import dspy

__all__ = ["constrained_adapter", "output_model", "response_format"]

_ADAPTER: Any = None


def output_model(signature: type[dspy.Signature]) -> type[BaseModel]:
    """A pydantic model of a signature's output fields (all required; Optional may be null)."""
    fields: dict[str, Any] = {
        name: (field.annotation, ...) for name, field in signature.output_fields.items()
    }
    return create_model(
        f"{signature.__name__}Output", __config__=ConfigDict(extra="forbid"), **fields
    )


def response_format(signature: type[dspy.Signature]) -> dict[str, Any]:
    """The OpenAI `response_format` that makes the server follow the output schema."""
    schema = output_model(signature).model_json_schema()
    schema.pop("title", None)
    return {
        "type": "json_schema",
        "json_schema": {"name": signature.__name__, "schema": schema, "strict": True},
    }


def constrained_adapter() -> Any:
    """The shared adapter: DSPy's JSON adapter, always sending the strict output schema."""
    global _ADAPTER
    if _ADAPTER is None:
        from dspy.adapters.json_adapter import JSONAdapter

        class ConstrainedJSONAdapter(JSONAdapter):  # type: ignore[misc]
            """JSONAdapter that sends the json_schema whatever the LM claims to support."""

            def _prepare_response_format(
                self, lm: Any, lm_kwargs: dict[str, Any], signature: Any
            ) -> None:
                lm_kwargs["response_format"] = response_format(signature)

        _ADAPTER = ConstrainedJSONAdapter()
    return _ADAPTER
