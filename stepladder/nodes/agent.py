"""The `agent` node: a ReAct-style loop over the tools the node lists, every step constrained.

Each step is two schema-constrained model calls: the first picks the next tool from an enum
of the node's tools plus `finish`; the second gives that tool's arguments under its own JSON
Schema (or, for `finish`, the final answer under the output's schema). The tool then runs
(`stepladder.tools.run_tool`): bad arguments, exceptions and timeouts come back as the
observation of the step, never as an error. Output that stays invalid after the node's
retries raises `NodeOutputError`; running out of steps is not an error: the output is None
and the node span carries `stepladder.agent.outcome = step_limit` (also written to the
`outcome` state key when the node declares one).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from opentelemetry import trace
from pydantic import Field, WithJsonSchema, model_validator

from stepladder.errors import FlowCompileError
from stepladder.nodes.base import BuildContext, BuiltNode, State
from stepladder.nodes.context import RunContext
from stepladder.nodes.llm import Invalid, LLMCall, LLMNodeSpec, input_fields
from stepladder.prompts import SignatureField, build_signature, output_model
from stepladder.runtimes.pool import BoundTier
from stepladder.tools import FINISH, Tool, ToolRegistry, ToolSpec, run_tool, tool_from_function
from stepladder.tracing import attributes as names
from stepladder.tracing import set_error, set_preview, tool_span

__all__ = ["AgentNodeSpec", "AgentStep"]

OUTCOME = "stepladder.agent.outcome"
STEPS = "stepladder.agent.steps"
STEP = "stepladder.agent.step"
TOOL_STATUS = "stepladder.tool.status"
TOOLS_FIELD = "available_tools"
HISTORY_FIELD = "steps_so_far"
CHOSEN_FIELD = "tool_to_call"
RESERVED = (TOOLS_FIELD, HISTORY_FIELD, CHOSEN_FIELD, "tool", "arguments")
Outcome = Literal["finished", "step_limit"]


@dataclass(frozen=True)
class AgentStep:
    """One step of the trajectory.

    Attributes:
        step: Its number, from 1.
        tool: The tool called.
        arguments: The arguments the model gave.
        observation: What the tool returned, or what went wrong.
        status: `ok`, `invalid_arguments`, `error` or `timeout`.
    """

    step: int
    tool: str
    arguments: Any
    observation: str
    status: str

    def line(self) -> str:
        """The step as the model sees it."""
        args = json.dumps(self.arguments, default=str, ensure_ascii=False)
        return f"{self.step}. {self.tool}({args}) -> {self.observation}"


class AgentNodeSpec(LLMNodeSpec):
    """A node that calls tools in a loop until it can answer."""

    kind: Literal["agent"]
    output: str = Field(description="State key that receives the final answer.")
    output_description: str = Field(default="", description="What the answer is, for the model.")
    tools: list[str | ToolSpec] = Field(
        min_length=1,
        description="The tools the agent may call: Python functions (or `stepladder.tools.Tool` "
        "objects) as 'module:attr', or declarations (name, description, parameters, call).",
    )
    max_steps: int = Field(default=6, ge=1, le=50, description="Most tool calls before giving up.")
    trajectory: str | None = Field(
        default=None, description="State key that receives the steps (tool, arguments, result)."
    )
    outcome: str | None = Field(
        default=None, description="State key that receives `finished` or `step_limit`."
    )

    @model_validator(mode="before")
    @classmethod
    def _default_writes(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("writes") and data.get("output"):
            keys = [data["output"], data.get("trajectory"), data.get("outcome")]
            data = {**data, "writes": [k for k in keys if k]}
        return data

    def build(self, context: BuildContext) -> BuiltNode:
        """Resolve the tools, build the step signatures, and wrap the loop."""
        self._check(context)
        registry = self._registry(context)
        loop = _AgentLoop(self, registry, *self._calls(context, registry))

        async def run(state: State, runtime: Any) -> dict[str, Any]:
            return await loop.run(state, loop.choose.context_of(runtime))

        return BuiltNode(afunc=run)

    def _check(self, context: BuildContext) -> None:
        for key in (self.output, self.trajectory, self.outcome):
            if key is not None and key not in self.writes:
                raise FlowCompileError(f"{context.where('writes')}: '{key}' must be written.")
        for name in ("signature", "escalate", "tier_from", "demos"):
            if getattr(self, name):
                raise FlowCompileError(
                    f"{context.where(name)}: agent nodes do not support `{name}` yet; remove it."
                )
        for index, key in enumerate(self.reads):
            if key in RESERVED:
                raise FlowCompileError(
                    f"{context.where('reads', index)}: '{key}' is a name the agent's prompt "
                    f"uses ({', '.join(RESERVED)}); read it under another state key."
                )

    def _registry(self, context: BuildContext) -> ToolRegistry:
        tools = [self._tool(context, index, entry) for index, entry in enumerate(self.tools)]
        try:
            return ToolRegistry(tools)
        except ValueError as error:
            raise FlowCompileError(f"{context.where('tools')}: {error}") from error

    def _tool(self, context: BuildContext, index: int, entry: str | ToolSpec) -> Tool:
        where = context.where("tools", index)
        if isinstance(entry, str):
            target = context.resolver.resolve(entry, (*context.path, "tools", index))
            reference = entry
        else:
            reference = entry.call
            target = context.resolver.resolve(reference, (*context.path, "tools", index, "call"))
        if isinstance(target, Tool):
            if isinstance(entry, str):
                return target
            target = target.fn
        if not callable(target):
            raise FlowCompileError(
                f"{where}: '{reference}' is a {type(target).__name__}, not a function or Tool."
            )
        try:
            return tool_from_function(target) if isinstance(entry, str) else entry.to_tool(target)
        except (TypeError, ValueError, NameError) as error:
            raise FlowCompileError(
                f"{where}: cannot make a tool of '{reference}': {error}"
            ) from error

    def _calls(
        self, context: BuildContext, registry: ToolRegistry
    ) -> tuple[LLMCall, dict[str, LLMCall], LLMCall]:
        import dspy

        reads = input_fields(self, context)
        history = SignatureField(
            HISTORY_FIELD, str, "The tool calls made so far and their results."
        )
        listing = SignatureField(TOOLS_FIELD, str, "The tools you may call, one a line.")
        chosen = SignatureField(CHOSEN_FIELD, str, "The tool to call now.")
        task = self.instructions or "Use the tools to complete the task."
        choice = SignatureField("tool", Literal[(*registry.names, FINISH)], "The next tool.")

        def predict(
            suffix: str, text: str, inputs: list[SignatureField], out: SignatureField
        ) -> Any:
            signature = build_signature(f"{self.id}_{suffix}", f"{task}\n{text}", inputs, [out])
            return dspy.Predict(signature)

        def call(program: Any) -> LLMCall:
            return LLMCall(self, program, output_model(program.signature))

        choose = call(predict(
            "choose", f"Pick the next tool to call, or `{FINISH}` when the steps so far are "
            "enough to answer.", [*reads, listing, history], choice,
        ))  # fmt: skip
        arguments = {
            item.name: call(
                predict(
                    f"{item.name}_args",
                    "Give the arguments for the tool to call now.",
                    [*reads, history, chosen],
                    SignatureField("arguments", _schema_type(item), ""),
                )
            )
            for item in registry
        }
        answer_type = context.state_types.get(self.output, str)
        answer = SignatureField(self.output, answer_type, self.output_description)
        finish = call(predict("finish", "Give the final answer from the steps so far.",
                              [*reads, history], answer))  # fmt: skip
        return choose, arguments, finish


def _schema_type(item: Tool) -> Any:
    """A dict whose JSON Schema is the tool's parameters (so the server enforces them)."""
    return Annotated[dict[str, Any], WithJsonSchema(item.parameters)]


class _AgentLoop:
    """Runs the steps of one agent node."""

    def __init__(
        self,
        node: AgentNodeSpec,
        registry: ToolRegistry,
        choose: LLMCall,
        arguments: dict[str, LLMCall],
        finish: LLMCall,
    ) -> None:
        self.node = node
        self.registry = registry
        self.choose = choose
        self.arguments = arguments
        self.finish = finish
        self.listing = "\n".join(item.describe() for item in registry)

    async def run(self, state: State, context: RunContext) -> dict[str, Any]:
        """Step until the model finishes or the step limit is reached."""
        assert context.models is not None  # checked by `context_of`
        bound = await context.models.bound(self.node.tier)
        reads = {key: state.get(key) for key in self.node.reads}
        steps: list[AgentStep] = []
        answer: Any = None
        outcome: Outcome = "step_limit"
        for number in range(1, self.node.max_steps + 1):
            history = _history(steps)
            inputs = {**reads, TOOLS_FIELD: self.listing, HISTORY_FIELD: history}
            name = (await self._ask(self.choose, context, bound, inputs))["tool"]
            if name == FINISH:
                inputs = {**reads, HISTORY_FIELD: history}
                answer = (await self._ask(self.finish, context, bound, inputs))[self.node.output]
                outcome = "finished"
                break
            tool = self.registry.get(name)
            inputs = {**reads, HISTORY_FIELD: history, CHOSEN_FIELD: tool.describe()}
            args = (await self._ask(self.arguments[name], context, bound, inputs))["arguments"]
            steps.append(await self._call_tool(context, number, tool, args))
        return self._updates(answer, outcome, steps)

    async def _ask(
        self, call: LLMCall, context: RunContext, bound: BoundTier, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        answer = await call.on_tier(context, bound, inputs)
        if isinstance(answer, Invalid):
            raise call.invalid_error(answer)
        return answer.values

    async def _call_tool(
        self, context: RunContext, number: int, tool: Tool, args: Any
    ) -> AgentStep:
        with tool_span(
            context.tracing, flow=context.flow_name, node_id=self.node.id, tool=tool.name,
            arguments=args, call_id=f"{self.node.id}-{number}",
        ) as span:  # fmt: skip
            result = await run_tool(tool, args)
            if span.is_recording():
                span.set_attributes({STEP: number, TOOL_STATUS: result.status})
            set_preview(context.tracing, span, names.OUTPUT, result.observation)
            if not result.ok:
                set_error(span, f"{result.status}: {result.observation}")
        return AgentStep(number, tool.name, args, result.observation, result.status)

    def _updates(self, answer: Any, outcome: Outcome, steps: list[AgentStep]) -> dict[str, Any]:
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes({OUTCOME: outcome, STEPS: len(steps)})
        updates: dict[str, Any] = {self.node.output: answer}
        if self.node.trajectory is not None:
            updates[self.node.trajectory] = [asdict(step) for step in steps]
        if self.node.outcome is not None:
            updates[self.node.outcome] = outcome
        return updates


def _history(steps: list[AgentStep]) -> str:
    return "\n".join(step.line() for step in steps) if steps else "(none yet)"
