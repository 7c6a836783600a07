"""The `generate` node: free text (still sent through the output schema, with a length cap)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

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

__all__ = ["GenerateNodeSpec"]


class GenerateNodeSpec(LLMNodeSpec):
    """A node that writes text into one state key."""

    kind: Literal["generate"]
    output: str = Field(description="State key that receives the text.")
    output_description: str = Field(default="", description="What the text is, for the model.")
    max_chars: int | None = Field(default=None, ge=1, description="Longest text allowed.")

    @model_validator(mode="before")
    @classmethod
    def _default_writes(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("writes") and data.get("output"):
            data = {**data, "writes": [data["output"]]}
        return data

    def build(self, context: BuildContext) -> BuiltNode:
        """Build the signature (or load the referenced one) and wrap the model call."""
        if self.output not in self.writes:
            raise FlowCompileError(f"{context.where('writes')}: '{self.output}' must be written.")
        program, outputs = self.resolve_program(context, lambda: self._predict(context))
        if self.output not in outputs.model_fields:
            raise FlowCompileError(
                f"{context.where('output')}: the signature has no output field '{self.output}'."
            )
        self.check_escalation(context, sampled_confidence=True)
        call = LLMCall(self, program, outputs, verifier=build_verifier(self, context))

        async def run(state: State, runtime: Any) -> dict[str, Any]:
            answer = await climb(call, state, runtime)
            return {self.output: answer.values[self.output]}

        return BuiltNode(afunc=run)

    def _predict(self, context: BuildContext) -> Any:
        import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

        annotation: Any = str
        if self.max_chars is not None:
            annotation = Annotated[str, StringConstraints(max_length=self.max_chars)]
        output = SignatureField(self.output, annotation, self.output_description)
        instructions = self.instructions or "Write the requested text."
        signature = build_signature(self.id, instructions, input_fields(self, context), [output])
        return dspy.Predict(signature)
