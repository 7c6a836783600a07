"""The agent node driven by DummyLM: the loop, failures as observations, limits, spans."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from stepladder import FlowCompileError
from stepladder.errors import NodeOutputError
from stepladder.flows import run_flow
from tests.agents.helpers import AGENT, agent_flow, call
from tests.escalation.helpers import dummy, pool
from tests.tracing.spans_helpers import attrs, in_memory, model_calls

QUESTION = {"question": "Who ordered 42 and where is it?"}


def the_node(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    """The agent node's span."""
    (node,) = [s for s in spans if s.name == "node support"]
    return node


async def test_a_two_tool_task_runs_to_the_answer() -> None:
    lm = dummy(
        *call("get_order_status", order_id="42"),
        *call("get_customer", order_id="42"),
        {"tool": "finish"},
        {"answer": "Ada Lovelace's order 42 has shipped."},
    )
    result = await run_flow(agent_flow(), QUESTION, models=pool(small=lm))
    assert result.state["answer"] == "Ada Lovelace's order 42 has shipped."
    assert result.state["outcome"] == "finished"
    assert result.state["trajectory"] == [
        {"step": 1, "tool": "get_order_status", "arguments": {"order_id": "42"},
         "observation": "shipped", "status": "ok"},
        {"step": 2, "tool": "get_customer", "arguments": {"order_id": "42"},
         "observation": '{"order_id": "42", "name": "Ada Lovelace"}', "status": "ok"},
    ]  # fmt: skip
    assert result.usage["calls"] == 6
    first = lm.history[0]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert first["properties"]["tool"]["enum"] == ["get_order_status", "get_customer"]
    choose = lm.history[2]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert choose["properties"]["tool"]["enum"] == ["get_order_status", "get_customer", "finish"]
    arguments = lm.history[1]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert arguments["properties"]["arguments"]["properties"]["order_id"]["type"] == "string"
    assert arguments["properties"]["arguments"]["required"] == ["order_id"]
    seen = str(lm.history[2]["messages"])  # the model sees the steps so far
    assert 'Step 1: called get_order_status({"order_id": "42"}); it returned: shipped' in seen


async def test_failures_become_observations_and_the_loop_goes_on() -> None:
    tools = [
        "tests.agents.toolbox:broken",
        "tests.agents.toolbox:search_orders",
        {"name": "slow", "call": "tests.agents.toolbox:slow", "timeout_s": 0.05,
         "parameters": {"properties": {"order_id": {"type": "string"}}}},
    ]  # fmt: skip
    lm = dummy(
        *call("broken", order_id="1"),
        *call("slow", order_id="1"),
        *call("search_orders", status="shipped", limit="many"),
        *call("search_orders", status="shipped"),
        {"tool": "finish"},
        {"answer": "42"},
    )
    result = await run_flow(agent_flow(tools=tools), QUESTION, models=pool(small=lm))
    steps = result.state["trajectory"]
    assert [s["status"] for s in steps] == ["error", "timeout", "invalid_arguments", "ok"]
    assert steps[0]["observation"] == "error: broken raised RuntimeError: database is down for 1"
    assert steps[1]["observation"] == "error: slow timed out after 0.05 s."
    assert "limit: Input should be a valid integer" in steps[2]["observation"]
    assert steps[3]["observation"] == '["42"]'
    assert result.state["answer"] == "42"


async def test_the_step_limit_ends_the_loop_without_an_answer() -> None:
    lm = dummy(*call("get_order_status", order_id="42"), *call("get_order_status", order_id="7"))
    tracing, exporter = in_memory()
    result = await run_flow(
        agent_flow(max_steps=2), QUESTION, models=pool(small=lm), tracing=tracing
    )
    assert result.state["answer"] is None
    assert result.state["outcome"] == "step_limit"
    assert len(result.state["trajectory"]) == 2
    node = attrs(the_node(exporter.get_finished_spans()))
    assert node["stepladder.agent.outcome"] == "step_limit"
    assert node["stepladder.agent.steps"] == 2


async def test_a_repeated_call_goes_to_the_answer_without_running_the_tool() -> None:
    lm = dummy(
        *call("get_order_status", order_id="42"),
        *call("get_order_status", order_id="42"),
        {"answer": "shipped"},
    )
    result = await run_flow(agent_flow(), QUESTION, models=pool(small=lm))
    assert (result.state["outcome"], result.state["answer"]) == ("finished", "shipped")
    assert len(result.state["trajectory"]) == 1
    assert "Step 1: called get_order_status" in str(lm.history[-1]["messages"])


async def test_min_steps_zero_offers_finish_at_once_and_no_parameters_need_no_call() -> None:
    tools = ["tests.agents.toolbox:get_order_status", "tests.agents.toolbox:policy"]
    lm = dummy({"tool": "policy"}, {"tool": "finish"}, {"answer": "30 days"})
    flow = agent_flow(tools=tools, min_steps=0)
    result = await run_flow(flow, QUESTION, models=pool(small=lm))
    assert result.state["trajectory"][0]["observation"] == "Returns within 30 days."
    assert result.usage["calls"] == 3  # choose, choose, finish: no arguments to ask for
    schema = lm.history[0]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["tool"]["enum"] == ["get_order_status", "policy", "finish"]


async def test_every_step_and_tool_call_is_a_span() -> None:
    lm = dummy(
        *call("get_order_status", order_id="42"),
        *call("get_order_status", order_id="x", extra=1),
        {"tool": "finish"},
        {"answer": "shipped"},
    )
    tracing, exporter = in_memory()
    await run_flow(agent_flow(), QUESTION, models=pool(small=lm), tracing=tracing)
    spans = exporter.get_finished_spans()
    chats = [attrs(s) for s in model_calls(spans)]
    assert len(chats) == 6
    assert {c["stepladder.node.kind"] for c in chats} == {"agent"}
    assert all(c["gen_ai.usage.input_tokens"] >= 0 for c in chats)
    node = the_node(spans)
    tools = [s for s in spans if s.name == "execute_tool get_order_status"]
    assert len(tools) == 2
    first, second = (attrs(s) for s in tools)
    assert first["gen_ai.tool.name"] == "get_order_status"
    assert first["gen_ai.tool.call.id"] == "support-1"
    assert "42" in str(first["stepladder.input"]) and first["stepladder.output"] == "shipped"
    assert first["stepladder.tool.status"] == "ok"
    assert second["stepladder.tool.status"] == "invalid_arguments"
    assert not tools[1].status.is_ok
    assert all(s.parent is not None and s.parent.span_id == node.context.span_id for s in tools)
    assert attrs(node)["stepladder.agent.outcome"] == "finished"


async def test_output_that_stays_invalid_raises() -> None:
    lm = dummy({"tool": "drop_tables"})
    with pytest.raises(NodeOutputError, match="invalid after 1 attempt"):
        await run_flow(agent_flow(), QUESTION, models=pool(small=lm))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tools": ["tests.agents.toolbox:NOT_CALLABLE"]}, r"tools\[0\].*not a function"),
        (
            {"tools": ["tests.agents.toolbox:get_order_status"] * 2},
            r"nodes\[0\]\.tools.*two tools are named 'get_order_status'",
        ),
        ({"tools": ["tests.agents.toolbox:nope"]}, r"nope"),
        ({"escalate": {"min_confidence": 0.5, "to": ["human"]}}, r"escalate.*gives up"),
        ({"min_steps": 3, "max_steps": 2}, r"min_steps.*more than max_steps"),
        (
            {"demos": [{"question": "q", "answer": "a",
                        "steps": [{"tool": "nope", "observation": "x"}]}]},
            r"demos\[0\]\.steps\[0\]\.tool.*valid: get_order_status, get_customer",
        ),
        (
            {"demos": [{"question": "q", "answer": "a",
                        "steps": [{"tool": "get_customer", "arguments": {"x": 1},
                                   "observation": "x"}]}]},
            r"demos\[0\]\.steps\[0\]\.arguments.*order_id: Field required",
        ),
        ({"demos": [{"question": "q", "reply": "a"}]}, r"demos\[0\].*unknown key\(s\) reply"),
        ({"reads": ["question", "steps_so_far"]}, r"reads\[1\].*steps_so_far"),
        (
            {"tools": [{"name": "x", "call": "tests.agents.toolbox:refund",
                        "parameters": {"properties": {"a": {"type": "date"}}}}]},
            r"tools\[0\].*type 'date'",
        ),
    ],
)  # fmt: skip
def test_bad_specs_are_compile_errors(changes: dict[str, object], message: str) -> None:
    with pytest.raises(FlowCompileError, match=message):
        agent_flow(**changes)


def test_writes_default_to_output_trajectory_and_outcome() -> None:
    from stepladder.nodes import AgentNodeSpec

    spec = AgentNodeSpec.model_validate(AGENT)
    assert spec.writes == ["answer", "trajectory", "outcome"]
    assert spec.max_steps == 6
