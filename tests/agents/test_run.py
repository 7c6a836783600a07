"""Running a tool: results, and every failure as an observation."""

from __future__ import annotations

from stepladder.tools import run_tool, tool, tool_from_function
from tests.agents.toolbox import broken, get_customer, get_order_status, search_orders, slow


async def test_a_sync_tool_runs_and_its_result_is_text() -> None:
    result = await run_tool(tool_from_function(get_order_status), {"order_id": "42"})
    assert (result.status, result.observation, result.value) == ("ok", "shipped", "shipped")


async def test_an_async_tool_is_awaited_and_json_results_are_dumped() -> None:
    result = await run_tool(tool_from_function(get_customer), {"order_id": "7"})
    assert result.ok
    assert result.observation == '{"order_id": "7", "name": "Alan Turing"}'


async def test_defaults_fill_left_out_arguments() -> None:
    result = await run_tool(tool_from_function(search_orders), {"status": "shipped"})
    assert result.value == ["42"]


async def test_bad_arguments_are_an_observation() -> None:
    result = await run_tool(tool_from_function(search_orders), {"status": "lost", "limit": "x"})
    assert result.status == "invalid_arguments"
    assert result.observation.startswith("error: invalid arguments for search_orders: status:")
    assert "limit: Input should be a valid integer" in result.observation
    extra = await run_tool(tool_from_function(get_order_status), {"order_id": "1", "x": 1})
    assert extra.status == "invalid_arguments" and "x: Extra inputs" in extra.observation


async def test_an_exception_is_an_observation() -> None:
    result = await run_tool(tool_from_function(broken), {"order_id": "9"})
    assert result.status == "error"
    assert result.observation == "error: broken raised RuntimeError: database is down for 9"


async def test_a_timeout_is_an_observation() -> None:
    result = await run_tool(tool(timeout_s=0.05)(slow), {"order_id": "9"})
    assert result.status == "timeout"
    assert result.observation == "error: slow timed out after 0.05 s."
