"""The cost of speaking MCP: an agent's MCP tool call, a flow called as an MCP tool, and the
MCP conformance scenarios.

- `mcp_tool_over_direct`: the same tool (`order_status` of the tests' `mcp` SDK server, over
  stdio) called the way an agent calls it (`run_tool` on the tool `mcp_tools` made: its
  arguments checked against the server's JSON Schema, the call through the run's session with
  its timeout, the result capped) over a direct call with the SDK's own `Client` to a second
  process of the same server. Calls alternate; medians. Target: <= 1.10.
- `flow_via_mcp_over_http_api`: the `greet` flow (two function nodes) called as an MCP tool
  at `/mcp` of `stepladder serve --mcp` (the SDK's client over streamable HTTP, one session)
  over the same flow through the native API (`POST /flows/greet/runs`, one keep-alive httpx
  client), same process, calls alternating; medians. Target: <= 1.20.
- `conformance_failed`: failed scenarios of the official conformance suite (server:
  server-initialize, ping, tools-list, dns-rebinding-protection; client: initialize and
  tools_call through `stepladder mcp call`). Needs `scripts/install_node_tools.sh`. Target: 0.

The last line of stdout is a JSON object with those keys and the medians in ms.

    .venv/bin/python benchmarks/interop.py [--calls 300] [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stepladder.tools import run_tool
from stepladder.tools.mcp import CURRENT_CLIENTS, McpClients, McpToolSource, mcp_tools
from tests.serve.helpers import serving
from tests.serve.mcp.node_tools import conformance_results
from tests.serve.projects import function_project
from tests.tools.mcp.helpers import SHOP, stdio_shop


async def tool_calls(calls: int) -> dict[str, float]:
    """Median ms of an agent's MCP tool call and of a direct SDK call (alternating)."""
    settings = stdio_shop()
    clients = McpClients()
    token = CURRENT_CLIENTS.set(clients)
    direct = StdioServerParameters(command=sys.executable, args=[str(SHOP), "stdio"])
    agent_ms: list[float] = []
    direct_ms: list[float] = []
    try:
        (tool,) = await mcp_tools(clients, [McpToolSource("shop", settings, ("order_status",))])
        async with Client(direct, mode="legacy", cache=None) as client:
            await client.list_tools()
            for index in range(calls + 20):
                arguments = {"order_id": "42" if index % 2 else "7"}
                pair = [("agent", agent_ms), ("direct", direct_ms)]
                for name, times in pair if index % 2 else reversed(pair):
                    started = time.perf_counter()
                    if name == "agent":
                        result = await run_tool(tool, arguments)
                        assert result.ok, result.observation
                    else:
                        answer = await client.call_tool("order_status", arguments)
                        assert not answer.is_error
                    if index >= 20:  # warm-up left out
                        times.append((time.perf_counter() - started) * 1000)
    finally:
        CURRENT_CLIENTS.reset(token)
        await clients.aclose()
    paired = statistics.median(a / d for a, d in zip(agent_ms, direct_ms, strict=True))
    return {
        "agent_ms": statistics.median(agent_ms),
        "direct_ms": statistics.median(direct_ms),
        "tool_paired": paired,
    }


async def flow_calls(url: str, runs: int) -> dict[str, float]:
    """Median ms of a flow run through MCP and through the native API (alternating)."""
    mcp_ms: list[float] = []
    api_ms: list[float] = []
    async with (
        httpx2.AsyncClient(timeout=60) as http,
        httpx.AsyncClient(base_url=url, timeout=60) as api,
    ):
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            await client.list_tools()
            for index in range(runs + 10):
                body = {"name": f"n{index}", "times": 2}
                pair = [("mcp", mcp_ms), ("api", api_ms)]
                for name, times in pair if index % 2 else reversed(pair):
                    started = time.perf_counter()
                    if name == "mcp":
                        result = await client.call_tool("greet", body)
                        assert not result.is_error, result.content
                    else:
                        response = await api.post("/flows/greet/runs", json=body)
                        assert response.status_code == 200, response.text
                    if index >= 10:
                        times.append((time.perf_counter() - started) * 1000)
    return {"mcp_ms": statistics.median(mcp_ms), "api_ms": statistics.median(api_ms)}


def main() -> None:
    """Measure, print a summary and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="tool calls each way")
    parser.add_argument("--runs", type=int, default=200, help="flow runs each way")
    options = parser.parse_args()
    tools = asyncio.run(tool_calls(options.calls))
    with tempfile.TemporaryDirectory() as folder:
        project = function_project(Path(folder) / "functions")
        with serving(project, "--mcp") as server:
            flows = asyncio.run(flow_calls(server.url, options.runs))
            results = conformance_results(f"{server.url}/mcp")
    failed = sorted(name for name, outcome in results.items() if outcome != "passed")
    summary: dict[str, Any] = {
        "benchmark": "interop",
        "mcp_tool_over_direct": round(tools["agent_ms"] / tools["direct_ms"], 3),
        "flow_via_mcp_over_http_api": round(flows["mcp_ms"] / flows["api_ms"], 3),
        "conformance_failed": len(failed),
        "failed_scenarios": failed,
        "scenarios": len(results),
        **{key: round(value, 3) for key, value in {**tools, **flows}.items()},
        "calls": options.calls,
        "runs": options.runs,
    }
    print(
        f"MCP tool: agent {tools['agent_ms']:.2f} ms, direct {tools['direct_ms']:.2f} ms; "
        f"flow: MCP {flows['mcp_ms']:.2f} ms, HTTP API {flows['api_ms']:.2f} ms; "
        f"conformance: {len(results) - len(failed)}/{len(results)} passed",
        file=sys.stderr,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
