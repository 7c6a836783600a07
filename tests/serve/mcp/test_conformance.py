"""The official MCP conformance suite (`@modelcontextprotocol/conformance`, on Node 22 from
`scripts/install_node_tools.sh`): its server scenarios against `stepladder serve --mcp`, its
client scenarios against `stepladder mcp call`. Without Node these tests fail."""

from __future__ import annotations

from pathlib import Path

from tests.serve.helpers import serving
from tests.serve.mcp.node_tools import CLIENT_SCENARIOS, SERVER_SCENARIOS, conformance_results
from tests.serve.projects import function_project


def test_the_conformance_scenarios_pass(tmp_path: Path) -> None:
    project = function_project(tmp_path / "functions")
    with serving(project, "--mcp") as server:
        results = conformance_results(f"{server.url}/mcp")
    assert sorted(results) == sorted([*SERVER_SCENARIOS, *CLIENT_SCENARIOS])
    failed = {name: output for name, output in results.items() if output != "passed"}
    assert not failed, "\n\n".join(f"{name}:\n{output}" for name, output in failed.items())
