"""An agent with an MCP server's tools under `stepladder serve`: one session for the process
(every run calls the same server process), stopped with the service."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conftest import write_project
from tests.fake_chat import chat_server
from tests.serve.helpers import serving
from tests.tools.mcp.helpers import SHOP, gone

FLOW = """
name: ask
state:
  question: {type: str, input: true}
  answer: str
  steps: optional[list]
nodes:
  - id: agent
    kind: agent
    reads: [question]
    tools: [{mcp: shop, include: [pid]}]
    output: answer
    trajectory: steps
    max_steps: 2
    retries: 0
"""


def model(request: dict[str, Any]) -> str:
    """The agent's model: call `pid` once, then finish, then answer."""
    wanted = request["response_format"]["json_schema"]["schema"]["properties"]
    if "tool" in wanted:
        called = "it returned" in str(request["messages"][-1]["content"])
        return json.dumps({"tool": "finish" if called else "pid"})
    return json.dumps({"answer": "done"})


def test_runs_share_the_process_session_and_it_ends_with_the_service(tmp_path: Path) -> None:
    with chat_server(model) as (port, _):
        command = json.dumps([sys.executable, str(SHOP), "stdio"])
        settings = (
            "name: ask\ntiers:\n"
            f'  small: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{port}/v1",'
            " model: m}\n"
            f"mcp_servers:\n  shop: {{command: {command}}}\n"
        )
        project = write_project(tmp_path / "ask", {"flows/ask.yaml": FLOW}, settings)
        with serving(project) as server, server.client() as client:
            pids = []
            for _ in range(2):
                response = client.post("/flows/ask/runs", json={"question": "which pid?"})
                assert response.status_code == 200, response.text
                (step,) = response.json()["state"]["steps"]
                pids.append(int(step["observation"]))
        assert pids[0] == pids[1]  # one session for the process
        assert gone(pids[0])  # stopped with the service
