"""`stepladder mcp call`: list an MCP server's tools, or call one (a declared server or a URL)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from tests.conftest import write_project
from tests.tools.mcp.helpers import SHOP, http_shop

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    command = json.dumps([sys.executable, str(SHOP), "stdio"])
    settings = f"name: shop\nmcp_servers:\n  shop: {{command: {command}}}\n"
    return write_project(tmp_path / "shop", {}, settings)


def test_a_declared_server_lists_its_tools_and_answers_a_call(project: Path) -> None:
    listed = runner.invoke(app, ["--project", str(project), "mcp", "call", "shop"])
    assert listed.exit_code == 0, listed.output
    assert "order_status: The status of an order." in listed.output
    called = runner.invoke(
        app, ["--project", str(project), "mcp", "call", "--tool", "add_numbers",
              "--args", '{"a": 1, "b": 2}', "shop"],
    )  # fmt: skip
    assert called.exit_code == 0, called.output
    assert called.output.strip() == "3"


def test_a_tool_error_exits_1_and_says_why(project: Path) -> None:
    result = runner.invoke(
        app, ["--project", str(project), "mcp", "call", "--tool", "refuse",
              "--args", '{"reason": "closed"}', "shop"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "refused: closed" in result.output


def test_a_url_needs_no_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with http_shop() as url:
        result = runner.invoke(
            app, ["mcp", "call", "--tool", "add_numbers", "--args", '{"a":1,"b":2}', url]
        )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "3"


def test_bad_names_and_arguments_are_user_errors(project: Path) -> None:
    unknown = runner.invoke(app, ["--project", str(project), "mcp", "call", "shpo"])
    assert unknown.exit_code == 2
    assert "neither an http(s) URL nor an MCP server declared" in unknown.output
    assert "declared: shop" in unknown.output
    bad = runner.invoke(
        app, ["--project", str(project), "mcp", "call", "--tool", "x", "--args", "[1]", "shop"]
    )
    assert bad.exit_code == 2
    assert "--args: give a JSON object" in bad.output


AGENT_FLOW = """
name: orders
state:
  question: {type: str, input: true}
  answer: str
nodes:
  - id: support
    kind: agent
    reads: [question]
    output: answer
    tools: [{mcp: shop, include: [order_status, search]}]
"""


def test_validate_check_tools_lists_each_agents_mcp_tools(project: Path) -> None:
    (project / "flows").mkdir()
    (project / "flows" / "orders.yaml").write_text(AGENT_FLOW, encoding="utf-8")
    plain = runner.invoke(app, ["--project", str(project), "validate"])
    assert plain.exit_code == 0, plain.output
    assert "MCP" not in plain.output
    checked = runner.invoke(app, ["--project", str(project), "validate", "--check-tools"])
    assert checked.exit_code == 0, checked.output
    assert "agent support (MCP: shop): order_status, search" in checked.output


def test_validate_names_an_undeclared_server(project: Path) -> None:
    (project / "flows").mkdir()
    flow = AGENT_FLOW.replace("mcp: shop", "mcp: tickets")
    (project / "flows" / "orders.yaml").write_text(flow, encoding="utf-8")
    result = runner.invoke(app, ["--project", str(project), "validate"])
    assert result.exit_code == 2
    assert "MCP server 'tickets' is not declared in stepladder.yaml" in result.output
    assert "Declared: shop" in result.output
