"""The agent node's prompts: one signature per call, and demos from worked tasks.

A demo of an agent node is a worked task: its reads, the `steps` taken (tool, arguments and
the observation the tool gave) and the final output. Each demo teaches every call: the
choice after each number of steps (the next tool, then `finish`), the arguments of each
step, and the answer from the full history. Small models copy the shape of demos far more
reliably than they follow instructions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from stepladder.errors import FlowCompileError
from stepladder.nodes.agent.loop import (
    CHOSEN_FIELD,
    HISTORY_FIELD,
    AgentCalls,
    AgentStep,
    history,
)
from stepladder.nodes.base import BuildContext
from stepladder.nodes.llm.call import LLMCall, input_fields
from stepladder.prompts import SignatureField, build_signature, output_model
from stepladder.tools import FINISH, Tool, ToolRegistry

__all__ = ["DemoStep", "build_calls"]

CHOOSE = (
    "Pick the next tool to call. Read the steps so far first: once a step has returned what "
    f"the question asks for, pick `{FINISH}`."
)
CHOOSE_FIRST = "Pick the tool whose result answers the question."
ARGUMENTS = (
    "Give the arguments of the tool to call now. Copy values (such as numbers) exactly as "
    "the question writes them."
)
FINISH_TEXT = "Answer the question from what the steps so far returned, in one or two sentences."


class DemoStep(BaseModel):
    """One step of a worked task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(description="The tool called.")
    arguments: dict[str, Any] = Field(default_factory=dict, description="Its arguments.")
    observation: str = Field(description="What it returned.")


def build_calls(node: Any, context: BuildContext, registry: ToolRegistry) -> AgentCalls:
    """The node's calls: choose a tool, give each tool's arguments, give the answer.

    The tools are listed in the instructions (they are the same at every step, so the
    server's prompt cache keeps them); before `min_steps` tools have run, `finish` is not
    among the choices.
    """
    import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

    plain = node.model_copy(update={"demos": []})  # demos are attached per call, below
    reads = input_fields(node, context)
    task = node.instructions or "Use the tools to complete the task."
    listing = "\n".join(f"- {item.describe()}" for item in registry)
    steps = SignatureField(HISTORY_FIELD, str, "The tools called so far and what they returned.")

    def call(suffix: str, text: str, inputs: list[SignatureField], out: SignatureField) -> LLMCall:
        instructions = f"{task}\nThe tools:\n{listing}\n{text}"
        signature = build_signature(f"{node.id}_{suffix}", instructions, inputs, [out])
        return LLMCall(plain, dspy.Predict(signature), output_model(signature))

    def choice(*names: str) -> SignatureField:
        return SignatureField("tool", Literal[names], "The tool to call next.")

    chosen = SignatureField(CHOSEN_FIELD, str, "The tool to call now.")
    answer_type = context.state_types.get(node.output, str)
    answer = SignatureField(node.output, answer_type, node.output_description)
    arguments = {
        item.name: call(f"{item.name}_args", ARGUMENTS, [*reads, steps, chosen],
                        SignatureField("arguments", _schema_type(item), ""))
        for item in registry
        if item.parameters.get("properties")
    }  # fmt: skip
    first = call("choose_first", CHOOSE_FIRST, [*reads, steps], choice(*registry.names))
    calls = AgentCalls(
        choose=call("choose", CHOOSE, [*reads, steps], choice(*registry.names, FINISH)),
        choose_first=first if node.min_steps > 0 else None,
        arguments=arguments,
        finish=call("finish", FINISH_TEXT, [*reads, steps], answer),
    )
    _attach_demos(node, context, registry, calls)
    return calls


def _schema_type(item: Tool) -> Any:
    """A dict whose JSON Schema is the tool's parameters (so the server enforces them)."""
    return Annotated[dict[str, Any], WithJsonSchema(item.parameters)]


def _attach_demos(
    node: Any, context: BuildContext, registry: ToolRegistry, calls: AgentCalls
) -> None:
    """Turn the node's worked tasks into demos of each call."""
    choose: list[dict[str, Any]] = []
    first: list[dict[str, Any]] = []
    arguments: dict[str, list[dict[str, Any]]] = {name: [] for name in calls.arguments}
    finish: list[dict[str, Any]] = []
    for index, demo in enumerate(node.demos):
        reads, steps, output = _parse_demo(node, context, registry, index, demo)
        done: list[AgentStep] = []
        for step in steps:
            so_far = {**reads, HISTORY_FIELD: history(done)}
            (first if len(done) < node.min_steps else choose).append({**so_far, "tool": step.tool})
            if step.tool in arguments:
                described = registry.get(step.tool).describe()
                arguments[step.tool].append(
                    {**so_far, CHOSEN_FIELD: described, "arguments": step.arguments}
                )
            done.append(AgentStep(len(done) + 1, step.tool, step.arguments, step.observation, "ok"))
        choose.append({**reads, HISTORY_FIELD: history(done), "tool": FINISH})
        finish.append({**reads, HISTORY_FIELD: history(done), node.output: output})
    _set_demos(calls.choose, choose)
    if calls.choose_first is not None:
        _set_demos(calls.choose_first, first)
    for name, demos in arguments.items():
        _set_demos(calls.arguments[name], demos)
    _set_demos(calls.finish, finish)


def _set_demos(call: LLMCall, demos: list[dict[str, Any]]) -> None:
    import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

    call.program.demos = [dspy.Example(demo) for demo in demos]


def _parse_demo(
    node: Any, context: BuildContext, registry: ToolRegistry, index: int, demo: dict[str, Any]
) -> tuple[dict[str, Any], list[DemoStep], Any]:
    """A demo's reads, steps and output, each checked (errors name the YAML path)."""
    expected = [*node.reads, "steps", node.output]
    unknown = [key for key in demo if key not in expected]
    missing = [key for key in (*node.reads, node.output) if key not in demo]
    if unknown or missing:
        problem = f"unknown key(s) {', '.join(unknown)}" if unknown else ""
        problem += ("; " if problem else "") + (f"missing {', '.join(missing)}" if missing else "")
        raise FlowCompileError(
            f"{context.where('demos', index)}: {problem}. A worked task gives the node's reads, "
            f"`steps` and its output: {', '.join(expected)}."
        )
    steps: list[DemoStep] = []
    for position, raw in enumerate(demo.get("steps") or []):
        path = ("demos", index, "steps", position)
        try:
            step = DemoStep.model_validate(raw)
        except ValidationError as error:
            raise FlowCompileError(f"{context.where(*path)}: {_first(error)}") from error
        if step.tool not in registry.names:
            raise FlowCompileError(
                f"{context.where(*path, 'tool')}: '{step.tool}' is not one of the node's "
                f"tools; valid: {', '.join(registry.names)}."
            )
        try:
            registry.get(step.tool).arguments.model_validate(step.arguments)
        except ValidationError as error:
            where = context.where(*path, "arguments")
            raise FlowCompileError(f"{where}: {_first(error)}") from error
        steps.append(step)
    reads = {key: demo[key] for key in node.reads}
    return reads, steps, demo[node.output]


def _first(error: ValidationError) -> str:
    detail = error.errors(include_url=False)[0]
    where = ".".join(str(p) for p in detail["loc"]) or "value"
    return f"{where}: {detail['msg']}"
