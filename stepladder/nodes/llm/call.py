"""What LLM nodes share: spec fields, and calling a DSPy program on a tier.

The call sends the output schema (constrained decoding), validates the answer, retries invalid
output, and records each call's tokens and time. A node runs its call through
`stepladder.nodes.llm.climb.climb`, which climbs the node's ladder of rungs when it escalates
(or starts where `tier_from:` says); each rung is one `LLMCall.on_tier`. A node's LoRA
`adapter` rides on each call to a tier whose server loaded it (the request's body selects it);
calls to other tiers run on their own model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Self

from langgraph.runtime import Runtime
from opentelemetry.trace import Span
from pydantic import BaseModel, Field, ValidationError

from stepladder.config.tiers import LlamaCppTier
from stepladder.errors import FlowCompileError, ModelError, NodeOutputError
from stepladder.nodes.artifacts import ArtifactRef, adapter_ref
from stepladder.nodes.base import BuildContext, NodeSpecBase
from stepladder.nodes.context import RunContext
from stepladder.nodes.llm.adapter import Adapter, served_adapter
from stepladder.nodes.llm.answers import Invalid, ModelAnswer
from stepladder.nodes.llm.escalation import EscalationPolicy
from stepladder.nodes.llm.exchange import lm_call, provider_of
from stepladder.nodes.llm.model_calls import RETRY_TEMPERATURE, record_model_call
from stepladder.nodes.llm.verify import Verifier
from stepladder.prompts import SignatureField, output_model
from stepladder.runtimes.pool import BoundTier
from stepladder.specs.locations import near_miss, valid_choices
from stepladder.specs.references import REFERENCE_PATTERN
from stepladder.specs.type_expressions import unannotated
from stepladder.tracing import attributes as names
from stepladder.tracing import model_span, set_error, set_preview

__all__ = ["LLMCall", "LLMNodeSpec", "input_fields"]

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
    frequency_penalty: float | None = Field(
        default=None,
        ge=-2.0,
        le=2.0,
        description="Lower the odds of a token by how often it already appears in the answer "
        "(OpenAI's parameter, honoured by llama.cpp, SGLang and the APIs). Off by default; "
        "best left off on nodes that copy text (extraction).",
    )
    presence_penalty: float | None = Field(
        default=None,
        ge=-2.0,
        le=2.0,
        description="Lower the odds of any token already in the answer (OpenAI's parameter).",
    )
    dry_multiplier: float | None = Field(
        default=None,
        gt=0.0,
        le=5.0,
        description="llama.cpp's DRY ('don't repeat yourself') sampler against loops: a token "
        "that would continue a phrase already in the context is penalised, more the longer "
        "the phrase (0.8 is its authors' usual strength). Sent to llama.cpp tiers only (the "
        "embedded one); other runtimes have no DRY sampler and their calls go without it. "
        "Off by default; for nodes that write free text.",
    )
    escalate: EscalationPolicy | None = Field(
        default=None,
        description="When to re-run on the next rung of the ladder (invalid output, low "
        "confidence, a verifier's verdict), and optionally the rungs (`to`).",
    )
    tier_from: str | None = Field(
        default=None,
        description="A state key holding a tier name (a route node's decision): the node "
        "starts on that tier instead of `tier`.",
    )
    adapter: str | None = Field(
        default=None,
        min_length=1,
        description="A fine-tuned LoRA adapter for this node's calls (`stepladder tune`): "
        "NAME (its newest version), NAME@vN, or a folder. It rides on the calls to tiers "
        "that serve the base model it was trained on (a GGUF tier's file is checked by "
        "sha256), so a call escalated to another tier runs without it; the node's own tier "
        "must serve that base, or the run stops before any node runs. Tiers name no "
        "adapter: an adapter learns one node's prompt, so it belongs to the node, and the "
        "nodes on one base share one server that picks each node's adapter per request.",
    )

    def tiers(self) -> frozenset[str]:
        """The node's `tier`."""
        return frozenset({self.tier})

    def first_rung(self) -> str | None:
        """The node's `tier`: its ladder starts there."""
        return self.tier

    def escalation(self) -> EscalationPolicy | None:
        """The node's `escalate:` policy."""
        return self.escalate

    def tier_key(self) -> str | None:
        """The node's `tier_from`."""
        return self.tier_from

    def artifacts(self) -> tuple[ArtifactRef, ...]:
        """The node's LoRA `adapter`, if it names one."""
        return (adapter_ref(self.adapter),) if self.adapter is not None else ()

    def pinned(self, tier: str) -> Self:
        """The node on `tier`, with no `escalate` and no `tier_from`.

        On another tier than its own it loses its adapter too (the adapter fits its tier).
        """
        update: dict[str, Any] = {"tier": tier, "escalate": None, "tier_from": None}
        if tier != self.tier:
            update["adapter"] = None
        return self.model_copy(update=update)

    def with_adapter(self, reference: str) -> Self:
        """The node with its calls on adapter `reference` instead of its own `adapter`."""
        return self.model_copy(update={"adapter": reference})

    def check_tier_from(self, context: BuildContext) -> None:
        """Check that `tier_from`, when set, is a state key of the flow.

        Raises:
            FlowCompileError: Naming the valid keys.
        """
        if self.tier_from is not None and self.tier_from not in context.state_types:
            keys = list(context.state_types)
            guess = near_miss(self.tier_from, keys)
            hint = f"; did you mean '{guess}'?" if guess else "."
            raise FlowCompileError(
                f"{context.where('tier_from')}: unknown state key '{self.tier_from}'{hint} "
                f"Valid: {valid_choices(keys)}. Declare it under `state:` (a route node "
                "writes the tier name there)."
            )

    def check_escalation(self, context: BuildContext, *, sampled_confidence: bool) -> None:
        """Check `tier_from` and `escalate` against the flow (at build time).

        Args:
            context: The build context (state keys, YAML locations).
            sampled_confidence: Whether this kind's confidence is the agreement of samples.
        """
        self.check_tier_from(context)
        policy = self.escalate
        if policy is None or "confidence" not in policy.active:
            return
        if sampled_confidence and policy.samples < 2:
            raise FlowCompileError(
                f"{context.where('escalate', 'samples')}: a {self.kind_name()} "
                "node's confidence is the agreement of several samples; set `samples` to 2 "
                "or more (3 is a good start)."
            )

    def resolve_program(
        self, context: BuildContext, make_default: Callable[[], Any]
    ) -> tuple[Any, type[BaseModel]]:
        """The DSPy program (referenced by `signature`, else `make_default()`) and its outputs."""
        if self.signature is not None:
            program = load_program(self, context)
            check_program_fields(self, program, context)
        else:
            program = make_default()
        context.programs[self.id] = program
        return program, signature_outputs(program)


def input_fields(node: NodeSpecBase, context: BuildContext) -> list[SignatureField]:
    """The node's reads as signature input fields, typed like the state."""
    return [
        SignatureField(key, unannotated(context.state_types.get(key, str)), "")
        for key in node.reads
    ]


def load_program(node: LLMNodeSpec, context: BuildContext) -> Any:
    """The DSPy module a `signature:` reference names (a Signature becomes a Predict)."""
    import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

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
        confidence: How sure an answer is (from its log-probabilities), for the node kind.
        verifier: Checks an answer for the `verifier` trigger.
    """

    def __init__(
        self,
        node: LLMNodeSpec,
        program: Any,
        outputs: type[BaseModel],
        *,
        want_logprobs: bool = False,
        confidence: Callable[[ModelAnswer], float | None] | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.node = node
        self.program = program
        self.outputs = outputs
        self.want_logprobs = want_logprobs
        self.confidence = confidence
        self.verifier = verifier
        if node.demos:
            _attach_demos(program, node.demos)

    def context_of(self, runtime: Runtime[RunContext]) -> RunContext:
        """The run context, which must hold the model tiers.

        Raises:
            ModelError: When the run has no model pool.
        """
        context = runtime.context
        if context is None or context.models is None:
            raise ModelError(
                f"node '{self.node.id}' needs model tiers, but the run has none; run the flow "
                "with `stepladder run`, or pass `models=ModelPool(...)` to the run."
            )
        return context

    async def on_tier(
        self,
        context: RunContext,
        bound: BoundTier,
        inputs: dict[str, Any],
        reason: str | None = None,
    ) -> ModelAnswer | Invalid:
        """Call the program on one tier, retrying invalid output.

        The first call carries `reason` when the node escalated (or was routed) to this tier.
        """
        last_raw = ""
        last_problem = ""
        adapter = self.adapter_on(context, bound)
        for attempt in range(1, self.node.retries + 2):
            config = self._config(bound, attempt, adapter)
            with self._span(context, bound, attempt, inputs, config, adapter) as span:
                answer, last_raw, last_problem = await self._attempt(
                    context, bound, attempt, inputs, config, span,
                    reason if attempt == 1 else None, adapter,
                )  # fmt: skip
            if answer is not None:
                return answer
        return Invalid(last_raw, last_problem, self.node.retries + 1, bound.name)

    def invalid_error(self, failure: Invalid) -> NodeOutputError:
        """The error for output that stayed invalid on the last rung."""
        return NodeOutputError(
            self.node.id,
            f"the model's output was invalid after {failure.attempts} attempt(s) "
            f"({failure.problem}); raw output: {failure.raw[:300]!r}",
            raw_output=failure.raw,
            attempts=failure.attempts,
        )

    async def sample(
        self, context: RunContext, bound: BoundTier, inputs: dict[str, Any], index: int
    ) -> dict[str, Any] | None:
        """One more sample at a raised temperature (for agreement); None when invalid."""
        adapter = self.adapter_on(context, bound)
        config = self._config(bound, 1, adapter)
        config.update(temperature=RETRY_TEMPERATURE, rollout_id=index)
        with self._span(context, bound, 1, inputs, config, adapter) as span:
            if span.is_recording():
                span.set_attribute(names.SAMPLE, index)
            answer, _, _ = await self._attempt(
                context, bound, 1, inputs, config, span, None, adapter
            )
        return answer.values if answer is not None else None

    def adapter_on(self, context: RunContext, bound: BoundTier) -> Adapter | None:
        """The node's adapter, if `bound`'s server serves it (else the call runs on the base)."""
        return served_adapter(self.node.adapter, context, bound)

    async def _attempt(
        self,
        context: RunContext,
        bound: BoundTier,
        attempt: int,
        inputs: dict[str, Any],
        config: dict[str, Any],
        span: Span,
        reason: str | None,
        adapter: Adapter | None = None,
    ) -> tuple[ModelAnswer | None, str, str]:
        """One call: the validated answer, or None with the raw output and the problem."""
        import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

        program = context.programs.get(self.node.id, self.program)
        started = time.perf_counter()
        try:
            with lm_call(bound, context.tracing, span):
                prediction = await program.acall(**inputs, config=config)
        except dspy.utils.exceptions.AdapterParseError as error:
            raw, problem = str(error.lm_response), _parse_problem(error)
            self._record(context, bound, started, None, attempt, span, False, reason, adapter)
            return self._invalid(context, span, raw, problem)
        except dspy.utils.exceptions.LMError as error:
            raise ModelError(_model_failure(self.node.id, bound, error)) from error
        usage = prediction.get_lm_usage() if hasattr(prediction, "get_lm_usage") else None
        values = {key: prediction.get(key) for key in self.outputs.model_fields}
        try:
            validated = self.outputs.model_validate(values)
        except ValidationError as error:
            self._record(context, bound, started, usage, attempt, span, False, reason, adapter)
            return self._invalid(context, span, repr(values), _first_problem(error))
        self._record(context, bound, started, usage, attempt, span, True, reason, adapter)
        set_preview(context.tracing, span, names.OUTPUT, validated.model_dump(mode="json"))
        logprobs = getattr(prediction, "logprobs", None)
        answer = ModelAnswer(validated.model_dump(), logprobs, attempt, bound.name)
        if self.confidence is not None:
            answer = replace(answer, confidence=self.confidence(answer))
        return answer, "", ""

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
        adapter: Adapter | None = None,
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
            node_kind=self.node.kind_name(),
            tier=bound.name,
            model=bound.endpoint.display_name or bound.endpoint.model,
            attempt=attempt,
            inputs=inputs,
            request=request,
            adapter=adapter.label if adapter is not None else None,
            provider=provider_of(bound),
        )

    def _config(
        self, bound: BoundTier, attempt: int, adapter: Adapter | None = None
    ) -> dict[str, Any]:
        config: dict[str, Any] = {}
        body = self._body(bound, adapter)
        if body is not None:
            config["extra_body"] = body
        if self.node.max_tokens is not None:
            config["max_tokens"] = self.node.max_tokens
        for penalty in ("frequency_penalty", "presence_penalty"):
            if (value := getattr(self.node, penalty)) is not None:
                config[penalty] = value
        if self.want_logprobs and bound.endpoint.supports_logprobs:
            config["logprobs"] = True
            config["top_logprobs"] = TOP_LOGPROBS
        if attempt > 1:
            config["temperature"] = RETRY_TEMPERATURE
        return config

    def _body(self, bound: BoundTier, adapter: Adapter | None) -> dict[str, Any] | None:
        """The request body fields this node's call adds, or None to keep the tier's own.

        A body replaces the tier's `extra_body` on the call, so one that adds the DRY sampler
        starts from the adapter's fields, else from the tier's.
        """
        dry = self.node.dry_multiplier is not None and isinstance(bound.settings, LlamaCppTier)
        if adapter is None and not dry:
            return None
        body = dict(adapter.body if adapter is not None else bound.endpoint.extra_body)
        if dry:
            body["dry_multiplier"] = self.node.dry_multiplier
        return body

    def _record(
        self,
        context: RunContext,
        bound: BoundTier,
        started: float,
        usage: Mapping[str, Any] | None,
        attempt: int,
        span: Span,
        ok: bool,
        reason: str | None,
        adapter: Adapter | None,
    ) -> None:
        record_model_call(
            context.usage, bound, node_id=self.node.id, started=started, usage=usage,
            attempt=attempt, ok=ok, span=span, escalation_reason=reason,
            adapter=adapter.label if adapter is not None else None,
        )  # fmt: skip


def _attach_demos(program: Any, demos: list[dict[str, Any]]) -> None:
    """Give the program's last predictor the spec's worked examples."""
    import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

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


def _model_failure(node_id: str, bound: Any, error: Exception) -> str:
    """Say what failed and what to change (a setting, the server), then the library's words."""
    where = bound.endpoint.base_url or bound.endpoint.model
    limit = f"{bound.settings.timeout_s:g} s"
    # The library's first clause only: its advice names its own internals, not our settings.
    cause = (str(error).splitlines() or [type(error).__name__])[0].split("; ")[0]
    if _timed_out(error):
        return (
            f"node '{node_id}': tier '{bound.name}' ({where}) did not answer within timeout_s "
            f"({limit}). Raise `tiers.{bound.name}.timeout_s` in stepladder.yaml if the model "
            "needs longer. Check that the model server is running and not overloaded, or bind "
            f"the tier to another runtime. (Cause: {cause})"
        )
    return (
        f"node '{node_id}': tier '{bound.name}' ({where}) failed. Check that the model server "
        f"is running and answers within timeout_s ({limit}, `tiers.{bound.name}.timeout_s` in "
        f"stepladder.yaml), or bind the tier to another runtime. (Cause: {cause})"
    )


def _timed_out(error: BaseException) -> bool:
    """Whether a timeout is anywhere in the error's chain of causes."""
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError) or "timeout" in type(seen).__name__.lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False
