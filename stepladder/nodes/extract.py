"""The `extract` node: typed fields pulled out of its reads; optional fields may be null.

A field's `max_chars` caps its text: the cap is in the JSON schema sent to the model server
(`maxLength`, for constrained decoding) and in the validation of the answer, so a longer text
is invalid output, retried and escalated like any other.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

from pydantic import (
    Field,
    StringConstraints,
    model_validator,
)

from stepladder.errors import FlowCompileError
from stepladder.nodes.base import BuildContext, BuiltNode, State
from stepladder.nodes.llm.call import (
    LLMCall,
    LLMNodeSpec,
    input_fields,
)
from stepladder.nodes.llm.climb import climb
from stepladder.nodes.llm.verify import build_verifier
from stepladder.prompts import SignatureField, build_signature
from stepladder.specs.type_expressions import parse_type
from stepladder.specs.typed_field import TypedField

__all__ = ["ExtractField", "ExtractNodeSpec", "capped_text"]


class ExtractField(TypedField):
    """One field to extract. A bare type is shorthand: `order_id: str`."""

    type: str = Field(default="str", description="Type expression, e.g. str, int, list[str].")
    optional: bool = Field(default=True, description="The model may answer null.")
    max_chars: int | None = Field(
        default=200,
        ge=1,
        description="Longest text of a str field, also of optional[str] and of each item of "
        "list[str] (null: no limit). A longer answer is invalid output (retried, escalated).",
    )


class ExtractNodeSpec(LLMNodeSpec):
    """A node that extracts typed fields; each field is written to the state key of its name."""

    kind: Literal["extract"]
    fields: dict[str, ExtractField] = Field(
        default_factory=dict, description="Fields to extract, by state key."
    )

    @model_validator(mode="before")
    @classmethod
    def _default_writes(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("writes") and data.get("fields"):
            data = {**data, "writes": list(data["fields"])}
        return data

    def build(self, context: BuildContext) -> BuiltNode:
        """Build the signature (or load the referenced one) and wrap the model call."""
        if self.signature is None and not self.fields:
            raise FlowCompileError(f"{context.where('fields')}: give `fields` or `signature`.")
        program, outputs = self.resolve_program(context, lambda: self._predict(context))
        names = list(outputs.model_fields)
        missing = [name for name in names if name not in self.writes]
        if missing:
            raise FlowCompileError(
                f"{context.where('writes')}: extracted field(s) {', '.join(missing)} must be "
                "in the node's writes."
            )
        self.check_escalation(context, sampled_confidence=True)
        call = LLMCall(self, program, outputs, verifier=build_verifier(self, context))

        async def run(state: State, runtime: Any) -> dict[str, Any]:
            answer = await climb(call, state, runtime)
            return {name: answer.values[name] for name in names}

        return BuiltNode(afunc=run)

    def _predict(self, context: BuildContext) -> Any:
        import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

        outputs = []
        for name, field in self.fields.items():

            def resolve(reference: str, name: str = name) -> Any:
                return context.resolver.resolve(reference, (*context.path, "fields", name))

            python_type = parse_type(field.type).to_python(field.values, resolve)
            if field.max_chars is not None:
                python_type = capped_text(python_type, field.max_chars)
            annotation = Optional[python_type] if field.optional else python_type  # noqa: UP045
            outputs.append(SignatureField(name, annotation, field.description))
        instructions = self.instructions or "Extract the fields from the input; null if absent."
        signature = build_signature(self.id, instructions, input_fields(self, context), outputs)
        return dspy.Predict(signature)


def capped_text(python_type: Any, max_chars: int) -> Any:
    """`python_type` with each `str` in it (alone, optional, or a list's items) capped.

    Other types (numbers, enums, models, dicts) are returned as they are.
    """
    if python_type is str:
        return Annotated[str, StringConstraints(max_length=max_chars)]
    origin, args = get_origin(python_type), get_args(python_type)
    if origin is Union:
        return Union[tuple(capped_text(arg, max_chars) for arg in args)]  # noqa: UP007
    if origin is list and len(args) == 1:
        return list[capped_text(args[0], max_chars)]  # type: ignore[misc]
    return python_type
