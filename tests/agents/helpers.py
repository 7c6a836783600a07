"""Agent flows for the tests: one agent node over the toolbox."""

from __future__ import annotations

from typing import Any

from stepladder import compile_flow, flow_from_dict
from stepladder.flows import Flow

STATE: dict[str, Any] = {
    "question": {"type": "str", "input": True},
    "answer": "optional[str]",
    "trajectory": "optional[list]",
    "outcome": "optional[str]",
}
AGENT: dict[str, Any] = {
    "id": "support",
    "kind": "agent",
    "instructions": "Answer the customer's question about their order.",
    "reads": ["question"],
    "output": "answer",
    "trajectory": "trajectory",
    "outcome": "outcome",
    "retries": 0,
    "tools": ["tests.agents.toolbox:get_order_status", "tests.agents.toolbox:get_customer"],
}


def agent_flow(**changes: Any) -> Flow:
    """A flow of one agent node (AGENT with `changes`)."""
    node = {**AGENT, **changes}
    spec = flow_from_dict({"name": "agents", "state": STATE, "nodes": [node]})
    return compile_flow(spec, tiers={"small"}, allow_imports=("tests",))


def call(tool: str, **arguments: Any) -> list[dict[str, Any]]:
    """The two model answers of one tool-calling step."""
    return [{"tool": tool}, {"arguments": arguments}]
