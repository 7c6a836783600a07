"""The Node tools the MCP tests run, from `scripts/install_node_tools.sh` (`make test`).

Missing tools fail the tests that need them (they are never skipped).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[3]
NODE_DIR = REPOSITORY / ".node"
NODE = NODE_DIR / "bin" / "node"
PACKAGES = NODE_DIR / "node_modules" / "@modelcontextprotocol"
CONFORMANCE = PACKAGES / "conformance" / "dist" / "index.js"
EVERYTHING = PACKAGES / "server-everything" / "dist" / "index.js"
INSTALL = "scripts/install_node_tools.sh (make test runs it)"
SERVER_SCENARIOS = ("server-initialize", "ping", "tools-list", "dns-rebinding-protection")
CALL = [sys.executable, "-m", "stepladder", "mcp", "call"]
CLIENT_SCENARIOS = {
    "initialize": CALL,
    "tools_call": [*CALL, "--tool", "add_numbers", "--args", '{"a":1,"b":2}'],
}
"""Client scenarios and the command each runs (the suite appends its server's URL)."""


def node_tool(path: Path) -> list[str]:
    """The command running a Node tool with the project's Node 22.

    Raises:
        AssertionError: When Node 22 or the tool is missing (install them: INSTALL).
    """
    assert NODE.exists(), f"Node 22 is missing at {NODE}: run {INSTALL}"
    assert path.exists(), f"{path} is missing: run {INSTALL}"
    return [str(NODE), str(path)]


def everything_server() -> list[str]:
    """The official reference server `server-everything`, over stdio."""
    return [*node_tool(EVERYTHING), "stdio"]


def conformance(*args: str, cwd: Path | None = None, timeout: float = 300) -> tuple[int, str]:
    """Run the MCP conformance suite (its clients run this checkout); status and output."""
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0", "PYTHONPATH": str(REPOSITORY)}
    done = subprocess.run(
        [*node_tool(CONFORMANCE), *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def conformance_results(url: str) -> dict[str, str]:
    """Run the issue's scenarios: the server ones against `url` (a `serve --mcp`'s `/mcp`),
    the client ones with `stepladder mcp call`. Each scenario's output, `passed` when it
    passed."""
    results: dict[str, str] = {}
    for scenario in SERVER_SCENARIOS:
        status, output = conformance("server", "--url", url, "--scenario", scenario)
        results[scenario] = "passed" if status == 0 and " 0 failed" in output else output
    for scenario, command in CLIENT_SCENARIOS.items():
        status, output = conformance(
            "client", "--command", shlex.join(command), "--scenario", scenario
        )
        results[scenario] = "passed" if status == 0 and " 0 failed" in output else output
    return results
