"""The `classify` node: picks one of a fixed set of labels (an enum the server enforces).

A confidence is written when asked for and the tier returns token log-probabilities: the
probability the model gave the label's tokens. Otherwise the confidence is null.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from stepladder.errors import FlowCompileError
from stepladder.nodes.base import BuildContext, BuiltNode, State
from stepladder.nodes.llm import (
    LLMCall,
    LLMNodeSpec,
    check_program_fields,
    input_fields,
    load_program,
    signature_outputs,
)
from stepladder.prompts import SignatureField, build_signature, output_model

__all__ = ["ClassifyNodeSpec", "label_confidence"]


class ClassifyNodeSpec(LLMNodeSpec):
    """A node that classifies its reads into one label."""

    kind: Literal["classify"]
    labels: list[str] | dict[str, str] = Field(
        min_length=2, description="The labels, or labels mapped to what each means."
    )
    output: str = Field(description="State key that receives the label.")
    confidence: str | None = Field(default=None, description="State key for the confidence.")

    @model_validator(mode="before")
    @classmethod
    def _default_writes(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("writes") and data.get("output"):
            extra = [data["confidence"]] if data.get("confidence") else []
            data = {**data, "writes": [data["output"], *extra]}
        return data

    @property
    def label_names(self) -> list[str]:
        """The labels, in order."""
        return list(self.labels)

    def build(self, context: BuildContext) -> BuiltNode:
        """Build the signature (or load the referenced one) and wrap the model call."""
        for key in filter(None, (self.output, self.confidence)):
            if key not in self.writes:
                raise FlowCompileError(
                    f"{context.where('writes')}: '{key}' must be in the node's writes."
                )
        if self.signature is not None:
            program = load_program(self, context)
            check_program_fields(self, program, context)
        else:
            program = _predict(self, context)
        outputs = signature_outputs(program)
        if self.output not in outputs.model_fields:
            raise FlowCompileError(
                f"{context.where('output')}: the signature has no output field '{self.output}'."
            )
        call = LLMCall(self, program, outputs, want_logprobs=self.confidence is not None)

        async def run(state: State, runtime: Any) -> dict[str, Any]:
            answer = await call(state, runtime)
            label = answer.values[self.output]
            update: dict[str, Any] = {self.output: label}
            if self.confidence is not None:
                update[self.confidence] = label_confidence(answer.logprobs, str(label))
            return update

        return BuiltNode(afunc=run)


def _predict(node: ClassifyNodeSpec, context: BuildContext) -> Any:
    import dspy

    label_type = Literal[tuple(node.label_names)]  # type: ignore[valid-type]
    instructions = node.instructions or "Classify the input into exactly one of the labels."
    if isinstance(node.labels, dict):
        meanings = "\n".join(f"- {label}: {text}" for label, text in node.labels.items())
        instructions = f"{instructions}\nLabels:\n{meanings}"
    output = SignatureField(node.output, label_type, "one of the labels")
    signature = build_signature(node.id, instructions, input_fields(node, context), [output])
    output_model(signature)  # fail at build time if the schema cannot be made
    return dspy.Predict(signature)


def label_confidence(logprobs: Any, label: str) -> float | None:
    """The probability of the label's tokens in the answer, from token log-probabilities."""
    tokens = _tokens(logprobs)
    if not tokens:
        return None
    text = "".join(token for token, _ in tokens)
    start = text.rfind(label)
    if start < 0:
        return None
    end, position, total = start + len(label), 0, 0.0
    for token, logprob in tokens:
        if position < end and position + len(token) > start:
            total += logprob
        position += len(token)
    return round(math.exp(total), 4)


def _tokens(logprobs: Any) -> list[tuple[str, float]]:
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if content is None:
        content = getattr(logprobs, "content", None)
    pairs: list[tuple[str, float]] = []
    for item in content or []:
        token = item.get("token") if isinstance(item, dict) else getattr(item, "token", None)
        value = item.get("logprob") if isinstance(item, dict) else getattr(item, "logprob", None)
        if isinstance(token, str) and isinstance(value, int | float):
            pairs.append((token, float(value)))
    return pairs
