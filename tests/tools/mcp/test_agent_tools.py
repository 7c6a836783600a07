"""Agents with tools from MCP servers written with the `mcp` SDK, over stdio and HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from stepladder import compile_flow, flow_from_dict
from stepladder.config.mcp import McpServerSettings
from stepladder.errors import FlowCompileError, FlowSpecError, ToolServerError
from stepladder.flows import run_flow
from stepladder.flows.run import uses_mcp
from stepladder.tracing import attributes as names
from tests.agents.helpers import call
from tests.escalation.helpers import dummy, pool
from tests.tools.mcp.helpers import gone, http_shop, mcp_agent_flow, stdio_shop
from tests.tracing.spans_helpers import attrs, in_memory

QUESTION = {"question": "Where is order 42?"}


async def test_an_agent_calls_an_mcp_tool_under_its_schema_and_the_call_is_a_span() -> None:
    flow = mcp_agent_flow({"shop": stdio_shop()}, [{"mcp": "shop", "include": ["order_status"]}])
    lm = dummy(*call("order_status", order_id="42"), {"tool": "finish"}, {"answer": "Shipped."})
    tracing, exporter = in_memory()
    result = await run_flow(flow, QUESTION, models=pool(small=lm), tracing=tracing)
    assert result.state["answer"] == "Shipped."
    (step,) = result.state["trajectory"]
    assert (step["tool"], step["observation"], step["status"]) == ("order_status", "shipped", "ok")
    choose = lm.history[2]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert choose["properties"]["tool"]["enum"] == ["order_status", "finish"]
    arguments = lm.history[1]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert arguments["properties"]["arguments"]["required"] == ["order_id"]
    assert arguments["properties"]["arguments"]["properties"]["order_id"]["type"] == "string"
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "execute_tool order_status"]
    assert attrs(span)["stepladder.mcp.server"] == "shop"
    assert span.end_time is not None and span.start_time is not None


async def test_an_mcp_tool_over_streamable_http() -> None:
    with http_shop() as url:
        servers = {"shop": McpServerSettings(url=url)}
        flow = mcp_agent_flow(servers, [{"mcp": "shop", "include": ["add_numbers"]}])
        lm = dummy(*call("add_numbers", a=1, b=2), {"tool": "finish"}, {"answer": "3"})
        result = await run_flow(flow, QUESTION, models=pool(small=lm))
    assert result.state["trajectory"][0]["observation"] == "3"


async def test_two_servers_with_the_same_tool_get_prefixed_names() -> None:
    servers = {"shop": stdio_shop(), "depot": stdio_shop()}
    tools = [{"mcp": "shop", "include": ["search"]}, {"mcp": "depot", "include": ["search"]}]
    flow = mcp_agent_flow(servers, tools)
    lm = dummy(*call("depot_search", query="ship"), {"tool": "finish"}, {"answer": "42"})
    result = await run_flow(flow, QUESTION, models=pool(small=lm))
    choose = lm.history[0]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert choose["properties"]["tool"]["enum"] == ["shop_search", "depot_search"]
    assert result.state["trajectory"][0]["observation"] == "42"


async def test_errors_timeouts_bad_arguments_and_long_results_are_observations() -> None:
    servers = {"shop": stdio_shop(timeout_s=1.5, max_result_chars=100)}
    flow = mcp_agent_flow(servers, [{"mcp": "shop"}], max_steps=5)
    lm = dummy(
        *call("refuse", reason="closed"),
        *call("hang", seconds=30),
        *call("add_numbers", a="one", b=2),
        *call("long_text", size=5000),
        *call("order_status", order_id="7"),
        {"tool": "finish"},
        {"answer": "Order 7 is processing."},
    )
    result = await run_flow(flow, QUESTION, models=pool(small=lm))
    steps = result.state["trajectory"]
    assert [s["status"] for s in steps] == ["error", "timeout", "invalid_arguments", "ok", "ok"]
    assert "refused: closed" in steps[0]["observation"]
    assert "timed out after 1.5 s" in steps[1]["observation"]
    assert "a: 'one' is not of type 'integer'" in steps[2]["observation"]
    assert steps[3]["observation"] == "x" * 100 + (
        "\n…(truncated: the first 100 of 5000 characters)"
    )
    assert steps[4]["observation"] == "processing"


async def test_a_missing_command_fails_the_run_naming_the_server() -> None:
    servers = {"files": McpServerSettings(command=["no-such-mcp-server-xyz", "data"])}
    flow = mcp_agent_flow(servers, [{"mcp": "files"}])
    with pytest.raises(
        ToolServerError, match="MCP server 'files': command 'no-such-mcp-server-xyz' was not found"
    ):
        await run_flow(flow, QUESTION, models=pool(small=dummy()))


async def test_a_tool_whose_schema_is_not_json_schema_is_named() -> None:
    flow = mcp_agent_flow({"shop": stdio_shop("--bad-schema")}, [{"mcp": "shop"}])
    with pytest.raises(
        ToolServerError,
        match="tool 'add_numbers' has an input schema that is not valid JSON Schema",
    ):
        await run_flow(flow, QUESTION, models=pool(small=dummy()))


async def test_an_included_tool_the_server_lacks_is_named_with_the_tools_it_has() -> None:
    flow = mcp_agent_flow({"shop": stdio_shop()}, [{"mcp": "shop", "include": ["refund"]}])
    with pytest.raises(ToolServerError, match=r"has no tool 'refund'.*its tools: order_status"):
        await run_flow(flow, QUESTION, models=pool(small=dummy()))


def test_a_flow_naming_an_undeclared_server_does_not_compile() -> None:
    with pytest.raises(
        FlowCompileError,
        match=r"MCP server 'shpo' is not declared in stepladder\.yaml\. Did you mean 'shop'",
    ):
        mcp_agent_flow({"shop": stdio_shop()}, [{"mcp": "shpo"}])


def test_a_command_in_a_flow_file_is_refused() -> None:
    with pytest.raises(
        FlowSpecError, match="a flow file names an MCP server, it cannot define one"
    ):
        mcp_agent_flow({}, [{"mcp": "files", "command": ["rm", "-rf", "/"]}])


async def test_the_server_process_ends_with_the_run() -> None:
    flow = mcp_agent_flow({"shop": stdio_shop()}, [{"mcp": "shop", "include": ["pid"]}])
    lm = dummy({"tool": "pid"}, {"tool": "finish"}, {"answer": "done"})
    result = await run_flow(flow, QUESTION, models=pool(small=lm))
    assert gone(int(result.state["trajectory"][0]["observation"]))


async def test_a_server_that_crashes_fails_the_run_and_the_thread_resumes_once_it_is_back(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "crash"
    marker.write_text("1")
    servers = {"shop": stdio_shop(env={"CRASH_FILE": str(marker)})}
    flow = mcp_agent_flow(servers, [{"mcp": "shop", "include": ["crash", "order_status"]}])
    db = tmp_path / "checkpoints.sqlite"
    with pytest.raises(ToolServerError) as failed:
        await run_flow(flow, QUESTION, thread_id="t1", checkpoint_db=db,
                       models=pool(small=dummy({"tool": "crash"})))  # fmt: skip
    assert "MCP server 'shop' went away during a call of its tool 'crash'" in str(failed.value)
    marker.unlink()  # the server is back to normal
    lm = dummy({"tool": "crash"}, {"tool": "finish"}, {"answer": "Still here."})
    result = await run_flow(flow, None, thread_id="t1", checkpoint_db=db, models=pool(small=lm))
    assert result.state["answer"] == "Still here."
    assert result.state["trajectory"][0]["observation"] == "still here"


async def test_every_server_of_a_failed_run_is_stopped(tmp_path: Path) -> None:
    marker = tmp_path / "crash"
    marker.write_text("1")
    servers = {"shop": stdio_shop(), "depot": stdio_shop(env={"CRASH_FILE": str(marker)})}
    tools = [{"mcp": "shop", "include": ["pid"]}, {"mcp": "depot", "include": ["crash"]}]
    flow = mcp_agent_flow(servers, tools)
    tracing, exporter = in_memory()
    lm = dummy({"tool": "pid"}, {"tool": "crash"})
    with pytest.raises(ToolServerError, match="MCP server 'depot' went away"):
        await run_flow(flow, QUESTION, models=pool(small=lm), tracing=tracing)
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "execute_tool pid"]
    assert gone(int(str(attrs(span)[names.OUTPUT]).strip('"')))


async def test_an_interrupted_run_stops_its_servers() -> None:
    flow = mcp_agent_flow({"shop": stdio_shop()}, [{"mcp": "shop", "include": ["pid", "hang"]}])
    tracing, exporter = in_memory()
    lm = dummy({"tool": "pid"}, *call("hang", seconds=60))
    run = asyncio.create_task(run_flow(flow, QUESTION, models=pool(small=lm), tracing=tracing))
    deadline = time.monotonic() + 60
    while not (spans := [s for s in exporter.get_finished_spans() if s.name == "execute_tool pid"]):
        assert time.monotonic() < deadline and not run.done()
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the agent is inside `hang` now
    run.cancel()  # what Ctrl-C does to `stepladder run`'s task
    with pytest.raises(asyncio.CancelledError):
        await run
    assert gone(int(str(attrs(spans[0])[names.OUTPUT]).strip('"')))


async def test_an_agent_inside_a_subflow_gets_its_mcp_tools() -> None:
    inner = mcp_agent_flow({"shop": stdio_shop()}, [{"mcp": "shop", "include": ["order_status"]}])
    outer = flow_from_dict({
        "name": "outer",
        "state": {"question": {"type": "str", "input": True}, "answer": "optional[str]"},
        "nodes": [{"id": "desk", "kind": "flow", "flow": "agents",
                   "inputs": {"question": "question"}, "outputs": {"answer": "answer"}}],
    })  # fmt: skip
    flow = compile_flow(
        outer, tiers={"small"}, allow_imports=("tests",), subflows={"agents": inner.spec},
        mcp_servers={"shop": stdio_shop()},
    )  # fmt: skip
    assert uses_mcp(flow) and list(flow.every_agent) == ["desk/support"]
    lm = dummy(*call("order_status", order_id="42"), {"tool": "finish"}, {"answer": "Shipped."})
    result = await run_flow(flow, QUESTION, models=pool(small=lm))
    assert result.state["answer"] == "Shipped."
    choose = lm.history[2]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert choose["properties"]["tool"]["enum"] == ["order_status", "finish"]
