"""The `agent` node: a ReAct-style loop over the tools the node lists, every step constrained.

Each step is schema-constrained model calls: the first picks the next tool from an enum of
the node's tools plus `finish`; the second gives that tool's arguments under its own JSON
Schema (or, for `finish`, the final answer under the output's schema). The tool then runs
(`stepladder.tools.run_tool`): bad arguments, exceptions and timeouts come back as the
observation of the step, never as an error. The loop and its escalation are in
`stepladder.nodes.agent.loop`, the prompts and demos in `stepladder.nodes.agent.prompts`.

```yaml
tools:                        # the flow's tools, by name (a reference or a declaration)
  lookup_order: flows.order_tools:lookup_order
nodes:
  - id: agent
    kind: agent
    reads: [message]
    tools: [lookup_order, {mcp: shop, include: [faq]}]   # ... or a project's MCP server
    output: answer
    max_steps: 4
    escalate: {}              # gave up (step limit, invalid output): the next rung
```
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from stepladder.errors import FlowCompileError, ModelError
from stepladder.nodes.agent.loop import (
    CHOSEN_FIELD,
    HISTORY_FIELD,
    TOOLS_FIELD,
    AgentLoop,
    AgentStep,
)
from stepladder.nodes.agent.prompts import build_calls
from stepladder.nodes.base import BuildContext, BuiltNode, State
from stepladder.nodes.llm.call import LLMNodeSpec
from stepladder.specs.locations import near_miss, valid_choices
from stepladder.tools import Tool, ToolRegistry, ToolSpec, tool_from_function
from stepladder.tools.mcp import McpToolsEntry, McpToolSource

__all__ = ["AgentNodeSpec", "AgentStep"]

RESERVED = (TOOLS_FIELD, HISTORY_FIELD, CHOSEN_FIELD, "tool", "arguments")


class AgentNodeSpec(LLMNodeSpec):
    """A node that calls tools in a loop until it can answer."""

    kind: Literal["agent"]
    output: str = Field(description="State key that receives the final answer.")
    output_description: str = Field(default="", description="What the answer is, for the model.")
    tools: list[str | ToolSpec | McpToolsEntry] = Field(
        min_length=1,
        description="The tools the agent may call: names of the flow's `tools`, Python "
        "functions (or `stepladder.tools.Tool` objects) as 'module:attr', declarations "
        "(name, description, parameters, call), or a project's MCP server's tools "
        "(`{mcp: NAME, include: [tool, ...]}`). Nothing else is callable.",
    )
    max_steps: int = Field(default=6, ge=1, le=50, description="Most tool calls before giving up.")
    min_steps: int = Field(
        default=1,
        ge=0,
        le=50,
        description="Tool calls before `finish` is offered (0: the agent may answer at once).",
    )
    trajectory: str | None = Field(
        default=None, description="State key that receives the steps (tool, arguments, result)."
    )
    outcome: str | None = Field(
        default=None,
        description="State key that receives how the loop ended: `finished`, `step_limit` or "
        "`reviewed` (a person answered).",
    )
    demos: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Worked tasks: the node's reads, `steps` (tool, arguments, observation) "
        "and the output; each teaches the choice, the arguments and the answer.",
    )

    @field_validator("tools", mode="before")
    @classmethod
    def _mcp_entries(cls, value: Any) -> Any:
        """An entry with `mcp:` is an MCP server's tools (so its errors are its own)."""
        if not isinstance(value, list):
            return value
        entries = []
        for entry in value:
            if isinstance(entry, dict) and "mcp" in entry:
                try:
                    entry = McpToolsEntry.model_validate(entry)
                except ValidationError as error:
                    detail = error.errors(include_url=False)[0]
                    where = ".".join(str(part) for part in detail["loc"])
                    raise ValueError(f"{where + ': ' if where else ''}{detail['msg']}") from None
            entries.append(entry)
        return entries

    @model_validator(mode="before")
    @classmethod
    def _default_writes(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("writes") and data.get("output"):
            keys = [data["output"], data.get("trajectory"), data.get("outcome")]
            data = {**data, "writes": [k for k in keys if k]}
        return data

    def tool_names(self) -> dict[int, str]:
        """The entries of `tools` that name a flow-level tool, by position."""
        return {i: e for i, e in enumerate(self.tools) if isinstance(e, str) and ":" not in e}

    def build(self, context: BuildContext) -> BuiltNode:
        """Resolve the tools, build the step signatures, and wrap the loop.

        With MCP servers among the tools, the servers' tools are listed when a run starts,
        and the step signatures are built then (building does no I/O).
        """
        self._check(context)
        sources = self._mcp_sources(context)
        registry = self._registry(context)
        calls = None if sources else build_calls(self, context, registry)
        loop = AgentLoop(
            self, registry, calls, sources, lambda tools: build_calls(self, context, tools)
        )
        context.agents[self.id] = loop

        async def run(state: State, runtime: Any) -> dict[str, Any]:
            context = runtime.context
            if context is None or context.models is None:
                raise ModelError(
                    f"node '{self.id}' needs model tiers, but the run has none; run the flow "
                    "with `stepladder run`, or pass `models=ModelPool(...)` to the run."
                )
            return await loop.run(state, context)

        return BuiltNode(afunc=run)

    def _check(self, context: BuildContext) -> None:
        for key in (self.output, self.trajectory, self.outcome):
            if key is not None and key not in self.writes:
                raise FlowCompileError(f"{context.where('writes')}: '{key}' must be written.")
        if self.min_steps > self.max_steps:
            raise FlowCompileError(
                f"{context.where('min_steps')}: {self.min_steps} is more than max_steps "
                f"({self.max_steps})."
            )
        for name, value in (("signature", self.signature), ("tier_from", self.tier_from)):
            if value:
                raise FlowCompileError(
                    f"{context.where(name)}: agent nodes do not support `{name}` yet; remove it."
                )
        policy = self.escalate
        if policy is not None and policy.active - {"invalid"}:
            raise FlowCompileError(
                f"{context.where('escalate')}: an agent node escalates when it gives up (step "
                "limit or invalid output: the `invalid` trigger); remove `min_confidence`, "
                "`verifier` and other triggers."
            )
        for index, key in enumerate(self.reads):
            if key in RESERVED:
                raise FlowCompileError(
                    f"{context.where('reads', index)}: '{key}' is a name the agent's prompt "
                    f"uses ({', '.join(RESERVED)}); read it under another state key."
                )

    def _mcp_sources(self, context: BuildContext) -> tuple[McpToolSource, ...]:
        """The MCP servers the node names, each declared by the project.

        Raises:
            FlowCompileError: For a server `stepladder.yaml` does not declare.
        """
        sources = []
        for index, entry in enumerate(self.tools):
            if not isinstance(entry, McpToolsEntry):
                continue
            declared = context.mcp_servers
            if entry.mcp not in declared:
                guess = near_miss(entry.mcp, declared)
                hint = f" Did you mean '{guess}'?" if guess else ""
                raise FlowCompileError(
                    f"{context.where('tools', index, 'mcp')}: MCP server '{entry.mcp}' is not "
                    f"declared in stepladder.yaml.{hint} Declared: {valid_choices(declared)}. "
                    "Declare it under `mcp_servers:` (a `command` or a `url`)."
                )
            include = tuple(entry.include) if entry.include is not None else None
            sources.append(McpToolSource(entry.mcp, declared[entry.mcp], include))
        return tuple(sources)

    def _registry(self, context: BuildContext) -> ToolRegistry:
        tools = [
            self._tool(context, index, entry)
            for index, entry in enumerate(self.tools)
            if not isinstance(entry, McpToolsEntry)
        ]
        try:
            return ToolRegistry(tools)
        except ValueError as error:
            raise FlowCompileError(f"{context.where('tools')}: {error}") from error

    def _tool(self, context: BuildContext, index: int, entry: str | ToolSpec) -> Tool:
        path: tuple[str | int, ...] = (*context.path, "tools", index)
        name: str | None = None
        if isinstance(entry, str) and ":" not in entry:
            name, path = entry, ("tools", entry)
            entry = _flow_tool(context, index, entry)
        reference = entry if isinstance(entry, str) else entry.call
        where = context.document.where(path)
        at = path if isinstance(entry, str) else (*path, "call")
        target = context.resolver.resolve(reference, at)
        if isinstance(target, Tool) and isinstance(entry, str):
            return target if name is None else replace(target, name=name)
        target = target.fn if isinstance(target, Tool) else target
        if not callable(target):
            raise FlowCompileError(
                f"{where}: '{reference}' is a {type(target).__name__}, not a function or Tool."
            )
        try:
            if isinstance(entry, str):
                return tool_from_function(target, name=name)
            return entry.to_tool(target)
        except (TypeError, ValueError, NameError) as error:
            raise FlowCompileError(
                f"{where}: cannot make a tool of '{reference}': {error}"
            ) from error


def _flow_tool(context: BuildContext, index: int, name: str) -> str | ToolSpec:
    """The flow-level tool `name` (a reference or a declaration).

    Raises:
        FlowCompileError: For a name the flow does not declare (checked with the flow too).
    """
    declared = context.tools
    if name not in declared:
        guess = near_miss(name, declared)
        hint = f"; did you mean '{guess}'?" if guess else "."
        raise FlowCompileError(
            f"{context.where('tools', index)}: unknown tool '{name}'{hint} Valid: "
            f"{valid_choices(declared)}. Declare it under the flow's `tools:`, or give "
            "'module:function'."
        )
    found: str | ToolSpec = declared[name]
    return found
