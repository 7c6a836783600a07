"""Structured output small models cannot break.

The output fields' JSON Schema is sent as `response_format` (json_schema), the server enforces
it while decoding (llama.cpp grammars, SGLang's xgrammar), and pydantic validates the result.
"""

from __future__ import annotations

import copy
import json
import re
import weakref
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from stepladder.prompts.field_text import field_lines

if TYPE_CHECKING:
    import dspy

__all__ = ["constrained_adapter", "output_model", "response_format"]

_ADAPTER: Any = None
_OUTPUT_MODELS: weakref.WeakKeyDictionary[type, type[BaseModel]] = weakref.WeakKeyDictionary()
_FORMATS: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()
_DESCRIPTIONS: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


def output_model(signature: type[dspy.Signature]) -> type[BaseModel]:
    """A pydantic model of a signature's output fields (all required; Optional may be null)."""
    cached = _OUTPUT_MODELS.get(signature)
    if cached is not None:
        return cached
    fields: dict[str, Any] = {
        name: (_with_constraints(field), ...) for name, field in signature.output_fields.items()
    }
    model: type[BaseModel] = create_model(
        f"{signature.__name__}Output", __config__=ConfigDict(extra="forbid"), **fields
    )
    _OUTPUT_MODELS[signature] = model
    return model


def _with_constraints(field: Any) -> Any:
    """The field's type with its pydantic constraints (max_length, ...) put back."""
    metadata = list(getattr(field, "metadata", []) or [])
    return Annotated[(field.annotation, *metadata)] if metadata else field.annotation


def response_format(signature: type[dspy.Signature]) -> dict[str, Any]:
    """The OpenAI `response_format` that makes the server follow the output schema."""
    cached = _FORMATS.get(signature)
    if cached is None:
        schema = output_model(signature).model_json_schema()
        schema.pop("title", None)
        cached = {
            "type": "json_schema",
            "json_schema": {"name": signature.__name__, "schema": schema, "strict": True},
        }
        _FORMATS[signature] = cached
    return copy.deepcopy(cached)


def constrained_adapter() -> Any:
    """The shared adapter: DSPy's JSON adapter, always sending the strict output schema."""
    global _ADAPTER
    if _ADAPTER is None:
        # Lazy: DSPy takes seconds to import; the adapter is made on a node's first call.
        from dspy.adapters.json_adapter import JSONAdapter

        class ConstrainedJSONAdapter(JSONAdapter):  # type: ignore[misc]
            """JSONAdapter that sends the json_schema whatever the LM claims to support."""

            def _prepare_response_format(
                self, lm: Any, lm_kwargs: dict[str, Any], signature: Any
            ) -> None:
                lm_kwargs["response_format"] = response_format(signature)

            def parse(self, signature: Any, completion: str) -> dict[str, Any]:
                return parse_output(signature, completion)

            def format_field_description(self, signature: Any) -> str:
                return field_description(signature)

            def format_field_structure(self, signature: Any) -> str:
                inputs = "\n\n".join(f"[[ ## {n} ## ]]\n{{{n}}}" for n in signature.input_fields)
                outputs = ", ".join(f'"{n}": ...' for n in signature.output_fields)
                return (
                    f"Inputs will have the following structure:\n\n{inputs}\n\n"
                    f"Outputs will be one JSON object: {{{outputs}}}"
                )

            def user_message_output_requirements(self, signature: Any) -> str:
                names = ", then ".join(f"`{n}`" for n in signature.output_fields)
                return f"Respond with a JSON object with the fields {names}."

        _ADAPTER = ConstrainedJSONAdapter()
    return _ADAPTER


def field_description(signature: type[dspy.Signature]) -> str:
    """The prompt's list of input and output fields (computed once per signature class)."""
    cached = _DESCRIPTIONS.get(signature)
    if cached is None:
        schema = output_model(signature).model_json_schema()
        cached = (
            f"Your input fields are:\n{field_lines(signature.input_fields)}\n"
            f"Your output fields are:\n{field_lines(signature.output_fields, schema)}"
        )
        _DESCRIPTIONS[signature] = cached
    return cached


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_output(signature: type[dspy.Signature], completion: str) -> dict[str, Any]:
    """Parse a completion as the signature's output: strict JSON, every field present, valid.

    Raises:
        AdapterParseError: Saying what is wrong, with the raw completion.
    """
    # Lazy: DSPy takes seconds to import; parsing a completion means it is loaded already.
    from dspy.utils.exceptions import AdapterParseError

    text = completion.strip()
    if fenced := _FENCE.match(text):
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise AdapterParseError(
            adapter_name="ConstrainedJSONAdapter",
            signature=signature,
            lm_response=completion,
            message=f"not valid JSON ({error.msg} at character {error.pos})",
        ) from error
    try:
        validated = output_model(signature).model_validate(data)
    except ValidationError as error:
        detail = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in detail["loc"]) or "output"
        raise AdapterParseError(
            adapter_name="ConstrainedJSONAdapter",
            signature=signature,
            lm_response=completion,
            message=f"{where}: {detail['msg']}",
        ) from error
    return {name: getattr(validated, name) for name in signature.output_fields}
