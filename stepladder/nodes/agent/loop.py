"""The agent node's loop: steps of constrained calls on one rung, and the climb over rungs.

On one rung each step asks the model for the next tool (an enum of the node's tools plus
`finish`), then for that tool's arguments (under its JSON Schema; a tool without parameters
needs no call), and runs the tool: bad arguments, exceptions and timeouts come back as the
step's observation. The agent gives up on a rung when it reaches `max_steps` without
`finish`, or when a call's output stays invalid through the node's retries. A node with
`escalate:` then runs the whole task again on the next rung of its ladder (a tier whose API
key is unset is skipped; `human` pauses the run for a reviewer's answer). Without
`escalate:`, invalid output raises `NodeOutputError` and the step limit is an outcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from opentelemetry import trace

from stepladder.errors import ModelError, ToolServerError
from stepladder.nodes.base import State
from stepladder.nodes.context import RunContext
from stepladder.nodes.human import ask_human, resume_waiting
from stepladder.nodes.llm.answers import Invalid
from stepladder.nodes.llm.call import LLMCall
from stepladder.nodes.llm.escalation import HUMAN
from stepladder.nodes.llm.ladder import node_ladder
from stepladder.runtimes.pool import BoundTier
from stepladder.tools import FINISH, Tool, ToolRegistry, run_tool
from stepladder.tools.mcp import CURRENT_CLIENTS, McpToolSource, mcp_tools
from stepladder.tracing import attributes as names
from stepladder.tracing import set_error, set_preview, tool_span

__all__ = ["AgentCalls", "AgentLoop", "AgentStep", "Outcome"]

OUTCOME = "stepladder.agent.outcome"
STEPS = "stepladder.agent.steps"
STEP = "stepladder.agent.step"
TOOL_STATUS = "stepladder.tool.status"
TOOL_SERVER = "stepladder.mcp.server"
TOOLS_FIELD = "available_tools"
HISTORY_FIELD = "steps_so_far"
CHOSEN_FIELD = "tool_to_call"
NO_STEPS = "(none yet)"
Outcome = Literal["finished", "step_limit", "invalid", "reviewed"]


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
        return f"Step {self.step}: called {self.tool}({args}); it returned: {self.observation}"


def history(steps: list[AgentStep]) -> str:
    """The steps so far, one a line, as the model sees them."""
    return "\n".join(step.line() for step in steps) if steps else NO_STEPS


@dataclass(frozen=True)
class AgentCalls:
    """The node's constrained model calls.

    Attributes:
        choose: Picks the next tool (or `finish`).
        choose_first: Picks a tool (no `finish`) before `min_steps` tools have run.
        arguments: Gives the arguments, per tool with parameters.
        finish: Gives the final answer.
    """

    choose: LLMCall
    choose_first: LLMCall | None
    arguments: dict[str, LLMCall]
    finish: LLMCall


@dataclass
class _Attempt:
    """How the task went on one rung."""

    tier: str
    steps: list[AgentStep] = field(default_factory=list)
    answer: Any = None
    outcome: Outcome = "step_limit"
    invalid: tuple[LLMCall, Invalid] | None = None

    def problem(self) -> tuple[str, str]:
        """Why the agent gave up here: (reason, detail)."""
        if self.invalid is not None:
            call, failure = self.invalid
            return "invalid", f"{call.program.signature.__name__}: {failure.problem}"
        return "step_limit", f"no answer after {len(self.steps)} step(s):\n{history(self.steps)}"


class _GaveUp(Exception):
    def __init__(self, call: LLMCall, failure: Invalid) -> None:
        super().__init__(failure.problem)
        self.call = call
        self.failure = failure


class AgentLoop:
    """Runs one agent node: its steps on a rung, and its climb when it gives up.

    With MCP `sources`, the servers' tools join the node's Python tools when a run starts
    (listed through the run's sessions), and `build` makes the step calls for them; they
    are made again only when the servers' tools change.
    """

    def __init__(
        self,
        node: Any,
        registry: ToolRegistry,
        calls: AgentCalls | None,
        sources: Sequence[McpToolSource] = (),
        build: Callable[[ToolRegistry], AgentCalls] | None = None,
    ) -> None:
        self.node = node
        self.registry = registry
        self.own_tools = list(registry)
        self.sources = tuple(sources)
        self._build = build
        self._listed: tuple[Any, ...] | None = None
        self._calls = calls

    @property
    def calls(self) -> AgentCalls:
        """The node's constrained model calls (for MCP tools: once a run has listed them)."""
        if self._calls is None:
            raise ToolServerError(
                f"agent node '{self.node.id}' takes tools from MCP servers; its calls are "
                "made when a run lists them."
            )
        return self._calls

    async def run(self, state: State, context: RunContext) -> dict[str, Any]:
        """Answer on the cheapest rung that finishes; escalate when the agent gives up."""
        if not self.sources:
            return await self._run(state, context)
        if context.mcp is None:
            raise ToolServerError(
                f"agent node '{self.node.id}' takes tools from MCP servers, but the run has no "
                "MCP sessions; run the flow with run_flow (or `stepladder run`)."
            )
        token = CURRENT_CLIENTS.set(context.mcp)
        try:
            await self.list_tools(context.mcp)
            return await self._run(state, context)
        finally:
            CURRENT_CLIENTS.reset(token)

    async def list_tools(self, clients: Any) -> ToolRegistry:
        """List the MCP servers' tools and make the step calls when they changed."""
        taken = [*(item.name for item in self.own_tools), FINISH]
        tools = await mcp_tools(clients, self.sources, taken)
        listed = tuple(
            (t.name, t.description, json.dumps(t.parameters, sort_keys=True)) for t in tools
        )
        if listed != self._listed or self._calls is None:
            registry = ToolRegistry([*self.own_tools, *tools])
            assert self._build is not None
            self._calls, self.registry, self._listed = self._build(registry), registry, listed
        return self.registry

    async def _run(self, state: State, context: RunContext) -> dict[str, Any]:
        reads = {key: state.get(key) for key in self.node.reads}
        rungs = self._rungs(context)
        span = trace.get_current_span()
        if HUMAN in rungs and resume_waiting():
            return self._human(context, reads, None, "review", "resumed")
        last: _Attempt | None = None
        reason: str | None = None
        for index, rung in enumerate(rungs):
            if rung == HUMAN:
                why = last.problem() if last else ("unavailable", "no model rung could run")
                return self._human(context, reads, last, *why)
            why = self._models(context).unavailable(rung)
            if why is not None:
                _event(span, "escalation.skipped", {"tier": rung, "why": why})
                continue
            bound = await self._models(context).bound(rung)
            last = await self._attempt(reads, context, bound, reason)
            if last.outcome == "finished" or self.node.escalate is None:
                break
            if index < len(rungs) - 1:
                reason, detail = last.problem()
                _escalated(span, rung, reason, detail)
        if last is None:
            raise ModelError(
                f"node '{self.node.id}': no rung of its ladder ({', '.join(rungs)}) could run "
                "(skipped for want of an API key)."
            )
        if last.invalid is not None:
            raise last.invalid[0].invalid_error(last.invalid[1])
        return self._updates(last.answer, last.outcome, last.steps, last.tier)

    def _rungs(self, context: RunContext) -> tuple[str, ...]:
        if self.node.escalate is None:
            return (self.node.tier,)
        rungs = node_ladder(self.node, context.ladder) or (self.node.tier,)
        return rungs[rungs.index(self.node.tier) :]

    def _models(self, context: RunContext) -> Any:
        if context.models is None:
            raise ModelError(f"node '{self.node.id}' needs model tiers, but the run has none.")
        return context.models

    async def _attempt(
        self, reads: dict[str, Any], context: RunContext, bound: BoundTier, reason: str | None
    ) -> _Attempt:
        """The task on one rung; the first model call carries `reason` (when escalated)."""
        attempt = _Attempt(bound.name)
        try:
            for number in range(1, self.node.max_steps + 1):
                name = (await self._choose(context, bound, reads, attempt.steps, reason))["tool"]
                reason = None
                if name == FINISH:
                    await self._finish(context, bound, reads, attempt)
                    break
                tool = self.registry.get(name)
                args = await self._arguments(context, bound, reads, attempt.steps, tool)
                if _repeats(attempt.steps, name, args):  # nothing new to learn: answer
                    await self._finish(context, bound, reads, attempt)
                    break
                attempt.steps.append(await self._call_tool(context, number, tool, args))
        except _GaveUp as gave_up:
            attempt.outcome, attempt.invalid = "invalid", (gave_up.call, gave_up.failure)
        return attempt

    async def _choose(
        self,
        context: RunContext,
        bound: BoundTier,
        reads: dict[str, Any],
        steps: list[AgentStep],
        reason: str | None,
    ) -> dict[str, Any]:
        call = self.calls.choose
        if self.calls.choose_first is not None and len(steps) < self.node.min_steps:
            call = self.calls.choose_first
        inputs = {**reads, HISTORY_FIELD: history(steps)}
        return await self._ask(call, context, bound, inputs, reason)

    async def _finish(
        self, context: RunContext, bound: BoundTier, reads: dict[str, Any], attempt: _Attempt
    ) -> None:
        inputs = {**reads, HISTORY_FIELD: history(attempt.steps)}
        values = await self._ask(self.calls.finish, context, bound, inputs, None)
        attempt.answer, attempt.outcome = values[self.node.output], "finished"

    async def _arguments(
        self,
        context: RunContext,
        bound: BoundTier,
        reads: dict[str, Any],
        steps: list[AgentStep],
        tool: Tool,
    ) -> Any:
        call = self.calls.arguments.get(tool.name)
        if call is None:  # no parameters: nothing to ask
            return {}
        inputs = {**reads, HISTORY_FIELD: history(steps), CHOSEN_FIELD: tool.describe()}
        return (await self._ask(call, context, bound, inputs, None))["arguments"]

    async def _ask(
        self,
        call: LLMCall,
        context: RunContext,
        bound: BoundTier,
        inputs: dict[str, Any],
        reason: str | None,
    ) -> dict[str, Any]:
        answer = await call.on_tier(context, bound, inputs, reason)
        if isinstance(answer, Invalid):
            raise _GaveUp(call, answer)
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
                if tool.server is not None:
                    span.set_attribute(TOOL_SERVER, tool.server)
            set_preview(context.tracing, span, names.OUTPUT, result.observation)
            if not result.ok:
                set_error(span, f"{result.status}: {result.observation}")
        return AgentStep(number, tool.name, args, result.observation, result.status)

    def _human(
        self,
        context: RunContext,
        reads: dict[str, Any],
        last: _Attempt | None,
        reason: str,
        detail: str,
    ) -> dict[str, Any]:
        """Hand the task to a reviewer (the run pauses); their answer is the output."""
        candidate = {self.node.output: last.answer} if last is not None else None
        values = ask_human(
            context, self.node.id, self.calls.finish.outputs, reason=reason, detail=detail,
            inputs=reads, candidate=candidate, candidate_tier=last.tier if last else None,
        )  # fmt: skip
        steps = last.steps if last is not None else []
        return self._updates(values[self.node.output], "reviewed", steps, HUMAN)

    def _updates(
        self, answer: Any, outcome: Outcome, steps: list[AgentStep], tier: str
    ) -> dict[str, Any]:
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes({OUTCOME: outcome, STEPS: len(steps)})
            if self.node.escalate is not None:
                span.set_attribute(names.ESCALATION_FINAL_TIER, tier)
        updates: dict[str, Any] = {self.node.output: answer}
        if self.node.trajectory is not None:
            updates[self.node.trajectory] = [asdict(step) for step in steps]
        if self.node.outcome is not None:
            updates[self.node.outcome] = outcome
        return updates


def _repeats(steps: list[AgentStep], tool: str, args: Any) -> bool:
    """Whether a step already made this call and it returned a result."""
    return any(s.tool == tool and s.arguments == args and s.status == "ok" for s in steps)


def _event(span: Any, name: str, attributes: dict[str, Any]) -> None:
    if span.is_recording():
        span.add_event(name, attributes)


def _escalated(span: Any, rung: str, reason: str, detail: str) -> None:
    """Record on the node span that the agent gave up on `rung` and climbs."""
    if not span.is_recording():
        return
    span.add_event(
        "escalation", {"from": rung, names.ESCALATION_REASON: reason, "detail": detail[:1000]}
    )
    reasons = tuple(span.attributes.get(names.ESCALATION_REASONS, ()))
    span.set_attribute(names.ESCALATION_REASONS, [*reasons, reason])
