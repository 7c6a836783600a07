"""What LLM nodes share: spec fields, and calling a DSPy program on a tier.

The call sends the output schema (constrained decoding), validates the answer, retries invalid
output, and records each call's tokens and time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime
from opentelemetry.trace import Span
from pydantic import BaseModel, Field, ValidationError

from stepladder.config.references import REFERENCE_PATTERN
from stepladder.errors import FlowCompileError, ModelError, NodeOutputError
from stepladder.nodes.base import BuildContext, NodeSpecBase, State
from stepladder.nodes.context import RunContext
from stepladder.nodes.model_calls import record_model_call
from stepladder.prompts import SignatureField, constrained_adapter, output_model
from stepladder.runtimes.pool import BoundTier
from stepladder.tracing import attributes as names
from stepladder.tracing import model_span, set_error, set_preview

__all__ = ["LLMCall", "LLMNodeSpec", "ModelAnswer", "input_fields"]

RETRY_TEMPERATURE = 0.7
TOP_LOGPROBS = 10


class LLMNodeSpec(NodeSpecBase):
    """Fields every LLM node kind shares."""

    tier: str = Field(default="small", description="The model tier (bound in stepladder.yaml).")
    instructions: str = Field(default="", description="What the model should do.")
    signature: str | None = Field(
        default=None,
        pattern=REFERENCE_PATTERN,
        description="A DSPy Signature or Module as 'module:attr', instead of the fields here.",
    )
    retries: int = Field(default=2, ge=0, le=10, description="Retries when output is invalid.")
    demos: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Worked examples (input and output fields) shown to the model.",
    )
    max_tokens: int | None = Field(default=None, ge=1, description="Override the tier's limit.")

    def resolve_program(
        self, context: BuildContext, make_default: Callable[[], Any]
    ) -> tuple[Any, type[BaseModel]]:
        """The DSPy program (referenced by `signature`, else `make_default()`) and its outputs."""
        if self.signature is not None:
            program = load_program(self, context)
            check_program_fields(self, program, context)
        else:
            program = make_default()
        return program, signature_outputs(program)


@dataclass(frozen=True)
class ModelAnswer:
    """A validated answer and what it took."""

    values: dict[str, Any]
    logprobs: Any
    attempts: int


def input_fields(node: NodeSpecBase, context: BuildContext) -> list[SignatureField]:
    """The node's reads as signature input fields, typed like the state."""
    return [
        SignatureField(key, _plain(context.state_types.get(key, str)), "") for key in node.reads
    ]


def load_program(node: LLMNodeSpec, context: BuildContext) -> Any:
    """The DSPy module a `signature:` reference names (a Signature becomes a Predict)."""
    import dspy

    assert node.signature is not None
    target = context.resolver.resolve(node.signature, (*context.path, "signature"))
    if isinstance(target, type) and issubclass(target, dspy.Signature):
        return dspy.Predict(target)
    if isinstance(target, dspy.Module):
        return target
    if isinstance(target, type) and issubclass(target, dspy.Module):
        return target()
    raise FlowCompileError(
        f"{context.where('signature')}: '{node.signature}' is a {type(target).__name__}, not a "
        "dspy.Signature or dspy.Module."
    )


def check_program_fields(node: LLMNodeSpec, program: Any, context: BuildContext) -> None:
    """A referenced program's input fields must be the node's reads."""
    for _, predictor in program.named_predictors():
        missing = [k for k in predictor.signature.input_fields if k not in node.reads]
        if missing:
            raise FlowCompileError(
                f"{context.where('signature')}: input field(s) {', '.join(missing)} of "
                f"'{node.signature}' are not in the node's reads ({', '.join(node.reads)})."
            )


class LLMCall:
    """Calls a DSPy program on a tier and validates its output, retrying invalid output.

    Args:
        node: The node spec (tier, retries, id).
        program: The DSPy module to call (a `dspy.Predict` for spec-built signatures).
        outputs: The pydantic model of the expected output fields.
        want_logprobs: Ask for token log-probabilities when the tier supports them.
    """

    def __init__(
        self,
        node: LLMNodeSpec,
        program: Any,
        outputs: type[BaseModel],
        *,
        want_logprobs: bool = False,
    ) -> None:
        self.node = node
        self.program = program
        self.outputs = outputs
        self.want_logprobs = want_logprobs
        if node.demos:
            _attach_demos(program, node.demos)

    async def __call__(self, state: State, runtime: Runtime[RunContext]) -> ModelAnswer:
        """Run the program on the node's reads; return validated output values."""
        context = runtime.context
        if context is None or context.models is None:
            raise ModelError(
                f"node '{self.node.id}' needs model tiers, but the run has none; run the flow "
                "with `stepladder run`, or pass `models=ModelPool(...)` to the run."
            )
        bound = await context.models.bound(self.node.tier)
        inputs = {key: state.get(key) for key in self.node.reads}
        last_raw = ""
        last_problem = ""
        for attempt in range(1, self.node.retries + 2):
            config = self._config(bound.endpoint.supports_logprobs, attempt)
            with self._span(context, bound, attempt, inputs, config) as span:
                answer, last_raw, last_problem = await self._attempt(
                    context, bound, attempt, inputs, config, span
                )
            if answer is not None:
                return answer
        raise NodeOutputError(
            self.node.id,
            f"the model's output was invalid after {self.node.retries + 1} attempt(s) "
            f"({last_problem}); raw output: {last_raw[:300]!r}",
            raw_output=last_raw,
            attempts=self.node.retries + 1,
        )

    async def _attempt(
        self,
        context: RunContext,
        bound: BoundTier,
        attempt: int,
        inputs: dict[str, Any],
        config: dict[str, Any],
        span: Span,
    ) -> tuple[ModelAnswer | None, str, str]:
        """One call: the validated answer, or None with the raw output and the problem."""
        import dspy

        started = time.perf_counter()
        try:
            with dspy.context(lm=bound.lm, adapter=constrained_adapter(), track_usage=True):
                prediction = await self.program.acall(**inputs, config=config)
        except dspy.utils.exceptions.AdapterParseError as error:
            raw, problem = str(error.lm_response), _parse_problem(error)
            self._record(context, bound, started, None, attempt, span, ok=False)
            return self._invalid(context, span, raw, problem)
        except dspy.utils.exceptions.LMError as error:
            where = bound.endpoint.base_url or bound.endpoint.model
            raise ModelError(
                f"node '{self.node.id}': tier '{self.node.tier}' ({where}) failed: "
                f"{str(error).splitlines()[0]} Check that the model server is running and "
                f"answers within timeout_s ({bound.settings.timeout_s:g} s), or bind the "
                "tier to another runtime in stepladder.yaml."
            ) from error
        usage = prediction.get_lm_usage() if hasattr(prediction, "get_lm_usage") else None
        values = {key: prediction.get(key) for key in self.outputs.model_fields}
        try:
            validated = self.outputs.model_validate(values)
        except ValidationError as error:
            self._record(context, bound, started, usage, attempt, span, ok=False)
            return self._invalid(context, span, repr(values), _first_problem(error))
        self._record(context, bound, started, usage, attempt, span, ok=True)
        set_preview(context.tracing, span, names.OUTPUT, validated.model_dump(mode="json"))
        logprobs = getattr(prediction, "logprobs", None)
        return ModelAnswer(validated.model_dump(), logprobs, attempt), "", ""

    @staticmethod
    def _invalid(context: RunContext, span: Span, raw: str, problem: str) -> tuple[None, str, str]:
        set_preview(context.tracing, span, names.OUTPUT, raw)
        set_error(span, f"invalid output: {problem}")
        return None, raw, problem

    def _span(
        self,
        context: RunContext,
        bound: BoundTier,
        attempt: int,
        inputs: dict[str, Any],
        config: dict[str, Any],
    ) -> AbstractContextManager[Span]:
        request = {
            "temperature": bound.settings.temperature,
            "max_tokens": bound.settings.max_tokens,
        }
        request.update(config)
        return model_span(
            context.tracing,
            flow=context.flow_name,
            node_id=self.node.id,
            node_kind=str(getattr(self.node, "kind", "llm")),
            tier=self.node.tier,
            model=bound.endpoint.display_name or bound.endpoint.model,
            attempt=attempt,
            inputs=inputs,
            request=request,
        )

    def _config(self, supports_logprobs: bool, attempt: int) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.node.max_tokens is not None:
            config["max_tokens"] = self.node.max_tokens
        if self.want_logprobs and supports_logprobs:
            config["logprobs"] = True
            config["top_logprobs"] = TOP_LOGPROBS
        if attempt > 1:
            config["temperature"] = RETRY_TEMPERATURE
        return config

    def _record(
        self,
        context: RunContext,
        bound: BoundTier,
        started: float,
        usage: Mapping[str, Any] | None,
        attempt: int,
        span: Span,
        *,
        ok: bool,
    ) -> None:
        record_model_call(
            context.usage, bound, node_id=self.node.id, started=started, usage=usage,
            attempt=attempt, ok=ok, span=span,
        )  # fmt: skip


def _attach_demos(program: Any, demos: list[dict[str, Any]]) -> None:
    """Give the program's last predictor the spec's worked examples."""
    import dspy

    predictor = list(program.named_predictors())[-1][1]
    fields = {**predictor.signature.input_fields, **predictor.signature.output_fields}
    predictor.demos = [dspy.Example({k: v for k, v in d.items() if k in fields}) for d in demos]


def signature_outputs(program: Any) -> type[BaseModel]:
    """The output model of a program's last predictor."""
    predictors = list(program.named_predictors())
    return output_model(predictors[-1][1].signature)


def _parse_problem(error: Exception) -> str:
    message = str(getattr(error, "message", "") or "")
    return message.splitlines()[0] if message else "output is not valid JSON"


def _first_problem(error: ValidationError) -> str:
    detail = error.errors(include_url=False)[0]
    where = ".".join(str(p) for p in detail["loc"]) or "output"
    return f"{where}: {detail['msg']}"


def _plain(python_type: Any) -> Any:
    metadata = getattr(python_type, "__metadata__", None)
    return python_type.__origin__ if metadata is not None else python_type
