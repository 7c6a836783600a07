"""An agent whose tools come from an official reference server from the npm registry
(`@modelcontextprotocol/server-everything`, run by Node from `scripts/install_node_tools.sh`;
without it this test fails)."""

from __future__ import annotations

from stepladder.config.mcp import McpServerSettings
from stepladder.flows import run_flow
from tests.agents.helpers import call
from tests.escalation.helpers import dummy, pool
from tests.serve.mcp.node_tools import everything_server
from tests.tools.mcp.helpers import mcp_agent_flow


async def test_an_agent_uses_the_reference_servers_tools_under_their_own_names() -> None:
    servers = {"everything": McpServerSettings(command=everything_server())}
    flow = mcp_agent_flow(servers, [{"mcp": "everything", "include": ["get-sum", "echo"]}])
    lm = dummy(*call("get_sum", a=2, b=3), {"tool": "finish"}, {"answer": "5"})
    result = await run_flow(flow, {"question": "What is 2 + 3?"}, models=pool(small=lm))
    (step,) = result.state["trajectory"]
    assert (step["tool"], step["status"]) == ("get_sum", "ok")
    assert step["observation"] == "The sum of 2 and 3 is 5."
    choose = lm.history[2]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert choose["properties"]["tool"]["enum"] == ["echo", "get_sum", "finish"]
    arguments = lm.history[1]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert arguments["properties"]["arguments"]["properties"]["a"]["type"] == "number"
