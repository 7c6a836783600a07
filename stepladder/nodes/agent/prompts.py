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

__all__ = ["DemoStep", "StepProblem", "build_calls", "checked_step", "worked_task_calls"]

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


def worked_task_calls(
    node: Any,
    registry: ToolRegistry,
    calls: AgentCalls,
    reads: dict[str, Any],
    steps: list[DemoStep],
    output: Any,
) -> list[tuple[LLMCall, dict[str, Any]]]:
    """What a worked task teaches each call: (call, its inputs and gold outputs), in order.

    The choice before each step (the step's tool), the arguments of each step whose tool
    has parameters, the choice after the last step (`finish`) and the answer from the full
    history: the calls the agent makes when it takes exactly these steps.
    """
    taught: list[tuple[LLMCall, dict[str, Any]]] = []
    done: list[AgentStep] = []
    for step in steps:
        so_far = {**reads, HISTORY_FIELD: history(done)}
        choose = calls.choose
        if calls.choose_first is not None and len(done) < node.min_steps:
            choose = calls.choose_first
        taught.append((choose, {**so_far, "tool": step.tool}))
        if step.tool in calls.arguments:
            described = registry.get(step.tool).describe()
            taught.append(
                (calls.arguments[step.tool],
                 {**so_far, CHOSEN_FIELD: described, "arguments": step.arguments})
            )  # fmt: skip
        done.append(AgentStep(len(done) + 1, step.tool, step.arguments, step.observation, "ok"))
    full = {**reads, HISTORY_FIELD: history(done)}
    taught.append((calls.choose, {**full, "tool": FINISH}))
    taught.append((calls.finish, {**full, node.output: output}))
    return taught


def checked_step(registry: ToolRegistry, raw: Any) -> DemoStep:
    """A worked task's step, checked: its shape, a tool of the node, arguments that fit.

    Raises:
        StepProblem: Why, and the item at fault (`tool`, `arguments`; None: the step).
    """
    try:
        step = DemoStep.model_validate(raw)
    except ValidationError as error:
        raise StepProblem(_first(error)) from None
    if step.tool not in registry.names:
        raise StepProblem(
            f"'{step.tool}' is not one of the node's tools; valid: {', '.join(registry.names)}.",
            "tool",
        )
    try:
        registry.get(step.tool).arguments.model_validate(step.arguments)
    except ValidationError as error:
        raise StepProblem(_first(error), "arguments") from None
    return step


class StepProblem(ValueError):
    """A worked task's step that does not fit the node (what is wrong, and where)."""

    def __init__(self, problem: str, item: str | None = None) -> None:
        super().__init__(problem)
        self.item = item


def _attach_demos(
    node: Any, context: BuildContext, registry: ToolRegistry, calls: AgentCalls
) -> None:
    """Turn the node's worked tasks into demos of each call."""
    demos: dict[int, list[dict[str, Any]]] = {}
    for index, demo in enumerate(node.demos):
        reads, steps, output = _parse_demo(node, context, registry, index, demo)
        for call, example in worked_task_calls(node, registry, calls, reads, steps, output):
            demos.setdefault(id(call), []).append(example)
    every = [calls.choose, *filter(None, [calls.choose_first]), *calls.arguments.values()]
    for call in [*every, calls.finish]:
        _set_demos(call, demos.get(id(call), []))


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
            steps.append(checked_step(registry, raw))
        except StepProblem as problem:
            where = context.where(*path, problem.item) if problem.item else context.where(*path)
            raise FlowCompileError(f"{where}: {problem}") from problem
    reads = {key: demo[key] for key in node.reads}
    return reads, steps, demo[node.output]


def _first(error: ValidationError) -> str:
    detail = error.errors(include_url=False)[0]
    where = ".".join(str(p) for p in detail["loc"]) or "value"
    return f"{where}: {detail['msg']}"
