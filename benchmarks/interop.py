"""The cost of speaking MCP: an agent's MCP tool call, a flow called as an MCP tool, and the
MCP conformance scenarios.

- `mcp_tool_over_direct`: the same tool (`order_status` of the tests' `mcp` SDK server, over
  stdio) called the way an agent calls it (`run_tool` on the tool `mcp_tools` made: its
  arguments checked against the server's JSON Schema, the call through the run's session with
  its timeout, the result capped) over a direct call with the SDK's own `Client` to a second
  process of the same server. In rounds on fresh processes (a third one answering a second
  direct client, the control: how far two identical paths drift apart), calls alternating;
  the median of the rounds' ratios of medians. Target: <= 1.10.
- `flow_via_mcp_over_http_api`: the `greet` flow (two function nodes) called as an MCP tool
  at `/mcp` of `stepladder serve --mcp` (the SDK's client over streamable HTTP, one session,
  no progress asked for) over the same flow through the native API (`POST /flows/greet/runs`,
  one keep-alive httpx client), same process, calls alternating with a third kind, an MCP
  call with a progress callback (`progress_ms`: answered as an SSE stream with a progress
  notification per node); medians. Target: <= 1.20.
- `conformance_failed`: failed scenarios of the official conformance suite (server:
  server-initialize, ping, tools-list, dns-rebinding-protection; client: initialize and
  tools_call through `stepladder mcp call`). Needs `scripts/install_node_tools.sh`. Target: 0.

The last line of stdout is a JSON object with those keys and the medians in ms.

    .venv/bin/python benchmarks/interop.py [--calls 100] [--rounds 5] [--runs 200]
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


async def tool_round(calls: int) -> dict[str, list[float]]:
    """One round on fresh server processes: ms of each agent call, direct call and control.

    The control is a second direct client, to a third process of the same server: how far
    two identical paths drift apart on this machine (the noise floor of the ratio).
    """
    settings = stdio_shop()
    clients = McpClients()
    token = CURRENT_CLIENTS.set(clients)
    direct = StdioServerParameters(command=sys.executable, args=[str(SHOP), "stdio"])
    times: dict[str, list[float]] = {"agent": [], "direct": [], "control": []}
    try:
        (tool,) = await mcp_tools(clients, [McpToolSource("shop", settings, ("order_status",))])
        async with (
            Client(direct, mode="legacy", cache=None) as client,
            Client(direct, mode="legacy", cache=None) as control,
        ):
            await client.list_tools()
            await control.list_tools()
            order = list(times)
            for index in range(calls + 20):
                arguments = {"order_id": "42" if index % 2 else "7"}
                for name in order[index % 3 :] + order[: index % 3]:  # each goes first in turn
                    started = time.perf_counter()
                    if name == "agent":
                        result = await run_tool(tool, arguments)
                        assert result.ok, result.observation
                    else:
                        answer = await (client if name == "direct" else control).call_tool(
                            "order_status", arguments
                        )
                        assert not answer.is_error
                    if index >= 20:  # warm-up left out
                        times[name].append((time.perf_counter() - started) * 1000)
    finally:
        CURRENT_CLIENTS.reset(token)
        await clients.aclose()
    return times


async def tool_calls(calls: int, rounds: int) -> dict[str, Any]:
    """Rounds of alternating calls; the ratio is the median of the rounds' median ratios."""
    ratios, controls, agent_ms, direct_ms, paired = [], [], [], [], []
    for _ in range(rounds):
        times = await tool_round(calls)
        agent, direct = statistics.median(times["agent"]), statistics.median(times["direct"])
        ratios.append(agent / direct)
        controls.append(statistics.median(times["control"]) / direct)
        agent_ms.append(agent)
        direct_ms.append(direct)
        paired += [a / d for a, d in zip(times["agent"], times["direct"], strict=True)]
    return {
        "tool_ratio": statistics.median(ratios),
        "agent_ms": statistics.median(agent_ms),
        "direct_ms": statistics.median(direct_ms),
        "tool_paired": statistics.median(paired),
        "control_over_direct": statistics.median(controls),
        "tool_rounds": [round(ratio, 3) for ratio in ratios],
        "control_rounds": [round(ratio, 3) for ratio in controls],
    }


async def flow_calls(url: str, runs: int) -> dict[str, float]:
    """Median ms of a flow run through MCP (without and with progress) and the native API."""
    times: dict[str, list[float]] = {"mcp": [], "api": [], "progress": []}
    heard: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        heard.append(progress)

    async with (
        httpx2.AsyncClient(timeout=60) as http,
        httpx.AsyncClient(base_url=url, timeout=60) as api,
    ):
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            await client.list_tools()
            order = list(times)
            for index in range(runs + 10):
                body = {"name": f"n{index}", "times": 2}
                for name in order[index % 3 :] + order[: index % 3]:  # each goes first in turn
                    started = time.perf_counter()
                    if name == "api":
                        response = await api.post("/flows/greet/runs", json=body)
                        assert response.status_code == 200, response.text
                    else:
                        listen = on_progress if name == "progress" else None
                        result = await client.call_tool("greet", body, progress_callback=listen)
                        assert not result.is_error, result.content
                    if index >= 10:
                        times[name].append((time.perf_counter() - started) * 1000)
    assert len(heard) == 2 * (runs + 10), "a node's progress notification went missing"
    return {f"{name}_ms": statistics.median(values) for name, values in times.items()}


def _rounded(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def main() -> None:
    """Measure, print a summary and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="tool calls each way, a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of tool calls")
    parser.add_argument("--runs", type=int, default=200, help="flow runs each way")
    options = parser.parse_args()
    tools = asyncio.run(tool_calls(options.calls, options.rounds))
    with tempfile.TemporaryDirectory() as folder:
        project = function_project(Path(folder) / "functions")
        with serving(project, "--mcp") as server:
            flows = asyncio.run(flow_calls(server.url, options.runs))
            results = conformance_results(f"{server.url}/mcp")
    failed = sorted(name for name, outcome in results.items() if outcome != "passed")
    summary: dict[str, Any] = {
        "benchmark": "interop",
        "mcp_tool_over_direct": round(tools.pop("tool_ratio"), 3),
        "flow_via_mcp_over_http_api": round(flows["mcp_ms"] / flows["api_ms"], 3),
        "conformance_failed": len(failed),
        "failed_scenarios": failed,
        "scenarios": len(results),
        **{key: _rounded(value) for key, value in {**tools, **flows}.items()},
        "calls": options.calls,
        "rounds": options.rounds,
        "runs": options.runs,
    }
    print(
        f"MCP tool: agent {tools['agent_ms']:.2f} ms, direct {tools['direct_ms']:.2f} ms "
        f"(a second direct client: {tools['control_over_direct']:.3f}x); "
        f"flow: MCP {flows['mcp_ms']:.2f} ms "
        f"({flows['progress_ms']:.2f} with progress), HTTP API {flows['api_ms']:.2f} ms; "
        f"conformance: {len(results) - len(failed)}/{len(results)} passed",
        file=sys.stderr,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
