"""Tools declared once under the flow's `tools:` and named by agent nodes."""

from __future__ import annotations

from typing import Any

import pytest

from stepladder import FlowCompileError, compile_flow, flow_from_dict, load_flow
from stepladder.flows import run_flow
from tests.agents.helpers import AGENT, STATE, call
from tests.escalation.helpers import dummy, pool

TOOLS: dict[str, Any] = {
    "status": "tests.agents.toolbox:get_order_status",
    "refund": {
        "description": "Refund an order.",
        "parameters": {"properties": {"order_id": {"type": "string"}}},
        "call": "tests.agents.toolbox:refund",
    },
}


def spec_of(tools: list[Any], flow_tools: dict[str, Any] | None = None) -> Any:
    node = {**AGENT, "tools": tools}
    data = {"name": "agents", "state": STATE, "tools": flow_tools or TOOLS, "nodes": [node]}
    return flow_from_dict(data)


async def test_nodes_name_the_flows_tools_and_only_those_are_offered() -> None:
    flow = compile_flow(spec_of(["status", "refund"]), tiers={"small"}, allow_imports=("tests",))
    lm = dummy(*call("status", order_id="42"), *call("refund", order_id="42"),
               {"tool": "finish"}, {"answer": "refunded"})  # fmt: skip
    result = await run_flow(flow, {"question": "refund 42"}, models=pool(small=lm))
    steps = result.state["trajectory"]
    assert [(s["tool"], s["observation"]) for s in steps] == [
        ("status", "shipped"), ("refund", "refunded 0.00 on 42")]  # fmt: skip
    schema = lm.history[0]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["tool"]["enum"] == ["status", "refund"]


def test_an_unknown_tool_name_names_the_path_and_the_choices() -> None:
    with pytest.raises(FlowCompileError) as caught:
        compile_flow(spec_of(["staus"]), tiers={"small"}, allow_imports=("tests",))
    message = str(caught.value)
    assert "nodes[0].tools[0]: unknown tool 'staus'; did you mean 'status'?" in message
    assert "Valid: refund, status." in message


def test_flow_tool_names_are_checked() -> None:
    bad = {"finish": "tests.agents.toolbox:refund",
           "ok": {"name": "other", "call": "tests.agents.toolbox:refund"}}  # fmt: skip
    with pytest.raises(FlowCompileError) as caught:
        compile_flow(spec_of(["ok"], bad), tiers={"small"}, allow_imports=("tests",))
    assert "tools.finish: 'finish' is reserved" in str(caught.value)
    assert "tools.ok.name: 'other' differs from its key 'ok'" in str(caught.value)


def test_yaml_round_trip_and_line_numbers(tmp_path: Any) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "name: agents\n"
        "state: {question: {type: str, input: true}, answer: 'optional[str]'}\n"
        "tools:\n"
        "  status: tests.agents.toolbox:get_order_status\n"
        "nodes:\n"
        "  - {id: support, kind: agent, reads: [question], output: answer, tools: [stats]}\n"
    )
    spec = load_flow(path)
    assert flow_from_dict(spec.to_dict()) == spec
    with pytest.raises(FlowCompileError, match=r"tools\[0\] \(.*agents.yaml, line 6\).*'status'"):
        compile_flow(spec, tiers={"small"}, allow_imports=("tests",))
    declared = spec_of(["refund"])
    assert "name" not in declared.to_dict()["tools"]["refund"]
    assert flow_from_dict(declared.to_dict()) == declared
