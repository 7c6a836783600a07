"""The project's flows as MCP tools, called by the `mcp` SDK's own client: over stdio
(`stepladder mcp`) and over streamable HTTP (`stepladder serve --mcp`)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from stepladder.config.mcp import McpServerSettings
from stepladder.errors import ToolServerError
from stepladder.serve.mcp.answers import wants_json
from stepladder.tools.mcp import McpClients
from tests.fake_chat import chat_server
from tests.serve.helpers import Server, closed_port, serving
from tests.serve.projects import TOO_LONG, desk_project, function_project

REPOSITORY = Path(__file__).resolve().parents[3]
TOKEN = "mcp-test-token"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return function_project(tmp_path_factory.mktemp("mcp") / "functions")


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[Server]:
    with serving(project, "--mcp", env={"STEPLADDER_API_TOKEN": TOKEN}) as running:
        yield running


def stdio(project: Path) -> StdioServerParameters:
    """`stepladder mcp` for `project`, started by the client."""
    env = {
        "PYTHONPATH": str(REPOSITORY),
        "HF_HUB_OFFLINE": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    command = ["-m", "stepladder", "--project", str(project), "mcp"]
    return StdioServerParameters(command=sys.executable, args=command, env=env, cwd=project)


async def check_the_flows(client: Client) -> None:
    """What every transport must give: tools, a run with progress, errors as results."""
    listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(listed) == ["explode", "greet", "wait"]
    greet = listed["greet"]
    assert greet.description == "Greet someone, a number of times."
    assert greet.input_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert greet.input_schema["required"] == ["name"]
    assert greet.input_schema["properties"]["times"]["default"] == 1
    assert "length" in greet.output_schema["properties"]
    progress: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    result = await client.call_tool(
        "greet", {"name": "Ada", "times": 2}, progress_callback=on_progress
    )
    assert not result.is_error
    assert result.structured_content["greeting"] == "hello Ada hello Ada"
    assert result.structured_content["length"] == 19
    assert progress == [(1, "node 'compose' finished"), (2, "node 'measure' finished")]
    failed = await client.call_tool("explode", {"name": "Ada"})
    assert failed.is_error
    assert "cannot greet Ada" in failed.content[0].text
    bad = await client.call_tool("greet", {"name": "Ada", "times": "often"})
    assert bad.is_error
    assert "times" in bad.content[0].text and "invalid_input" in bad.content[0].text
    unknown = await client.call_tool("greeet", {})
    assert unknown.is_error and "no flow 'greeet'" in unknown.content[0].text


async def test_the_flows_over_stdio(project: Path) -> None:
    async with Client(stdio(project), mode="legacy") as client:
        await check_the_flows(client)


async def test_the_flows_over_http_behind_the_token(server: Server) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{server.url}/mcp", http_client=http)
        async with Client(transport, mode="legacy") as client:
            await check_the_flows(client)


def test_mcp_needs_the_token_and_a_local_host(server: Server) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"}}}  # fmt: skip
    accept = {"Accept": "application/json, text/event-stream"}
    with server.client() as anonymous:
        assert anonymous.post("/mcp", json=hello, headers=accept).status_code == 401
    with server.client(TOKEN) as client:
        rebound = client.post("/mcp", json=hello, headers={**accept, "Host": "evil.example"})
        assert rebound.status_code in (403, 421)
        foreign = client.post(
            "/mcp", json=hello, headers={**accept, "Origin": "http://evil.example"}
        )
        assert foreign.status_code == 403
        local = client.post("/mcp", json=hello, headers=accept)
        assert local.status_code == 200, local.text


def test_only_a_request_that_asks_for_progress_needs_a_stream() -> None:
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "greet"}}
    assert wants_json(json.dumps(call).encode())
    asks = {**call, "params": {"name": "greet", "_meta": {"progressToken": "p1"}}}
    assert not wants_json(json.dumps(asks).encode())
    opening = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    notice = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    for body in (opening, notice, [call]):
        assert not wants_json(json.dumps(body).encode())
    assert not wants_json(b"{not json")


async def test_calls_on_one_session_answered_with_json_or_a_stream_each(server: Server) -> None:
    """Without a progress token a call is answered with one JSON body, with one as SSE
    carrying each node's progress; two such calls sent at once keep their own form."""
    headers = {"Accept": "application/json, text/event-stream"}
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"}}}  # fmt: skip
    async with server.async_client(TOKEN) as client:
        opened = await client.post("/mcp", json=hello, headers=headers)
        assert opened.headers["content-type"].startswith("text/event-stream")
        headers["Mcp-Session-Id"] = opened.headers["mcp-session-id"]
        headers["Mcp-Protocol-Version"] = "2025-06-18"
        ready = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await client.post("/mcp", json=ready, headers=headers)).status_code == 202

        def call(request_id: int, meta: dict[str, str]) -> dict[str, object]:
            params = {"name": "wait", "arguments": {"seconds": 0.5}, **meta}
            return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}

        streamed, plain = await asyncio.gather(
            client.post("/mcp", json=call(2, {"_meta": {"progressToken": "p2"}}), headers=headers),
            client.post("/mcp", json=call(3, {}), headers=headers),
        )
    assert plain.headers["content-type"] == "application/json"
    answer = plain.json()
    assert answer["id"] == 3 and answer["result"]["structuredContent"]["waited"] == 0.5
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line.removeprefix("data: "))
        for line in streamed.text.splitlines()
        if line.startswith("data: {")
    ]
    progress, result = events
    assert progress["method"] == "notifications/progress"
    assert progress["params"]["progressToken"] == "p2"
    assert progress["params"]["message"] == "node 'wait' finished"
    assert result["id"] == 2 and result["result"]["structuredContent"]["waited"] == 0.5


async def test_a_run_paused_for_a_person_names_the_review(tmp_path: Path) -> None:
    with chat_server(TOO_LONG) as (port, _):
        project = desk_project(tmp_path / "desk", port, closed_port())
        async with Client(stdio(project), mode="legacy") as client:
            result = await client.call_tool("desk", {"message": "where is my order?"})
    assert not result.is_error
    text = result.content[0].text
    assert text.startswith("The run paused for a person: review '")
    assert "of node 'reply'" in text and "/resume" in text
    assert result.structured_content["text"] == "where is my order?"
    assert result.meta["stepladder/run"]["status"] == "paused"


async def test_stepladders_client_reaches_a_served_flow_with_a_header_from_the_environment(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = McpServerSettings(url=f"{server.url}/mcp", headers_env={"Authorization": "AUTH"})
    clients = McpClients()
    try:
        with pytest.raises(ToolServerError, match="could not start"):
            await clients.tools("desk", settings)  # AUTH unset: no header, a 401
        monkeypatch.setenv("AUTH", f"Bearer {TOKEN}")
        names = [tool.name for tool in await clients.tools("desk", settings)]
        assert names == ["explode", "greet", "wait"]
        result = await clients.call("desk", settings, "greet", {"name": "Ada"})
        assert result.structured["greeting"] == "hello Ada" and not result.is_error
    finally:
        await clients.aclose()
