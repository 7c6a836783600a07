"""MCP servers for the tests: the `mcp` SDK's shop server (stdio or HTTP), and agent flows."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stepladder import compile_flow, flow_from_dict
from stepladder.config.mcp import McpServerSettings
from stepladder.flows import Flow
from tests.agents.helpers import STATE

SHOP = Path(__file__).with_name("shop_server.py")


def stdio_shop(*flags: str, **changes: Any) -> McpServerSettings:
    """The shop server, started over stdio."""
    return McpServerSettings(command=[sys.executable, str(SHOP), "stdio", *flags], **changes)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def http_shop() -> Iterator[str]:
    """The shop server over streamable HTTP in its own process; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SHOP), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def wait_for_port(port: int, process: subprocess.Popen[Any], seconds: float = 60) -> None:
    """Wait until something listens on `port` (or the process has exited)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {seconds} s")


def mcp_agent_flow(servers: dict[str, McpServerSettings], tools: list[Any], **changes: Any) -> Flow:
    """A flow of one agent node whose tools are `tools` (MCP entries among them)."""
    node = {
        "id": "support",
        "kind": "agent",
        "instructions": "Answer the customer's question about their order.",
        "reads": ["question"],
        "output": "answer",
        "trajectory": "trajectory",
        "outcome": "outcome",
        "retries": 0,
        "tools": tools,
        **changes,
    }
    spec = flow_from_dict({"name": "agents", "state": STATE, "nodes": [node]})
    return compile_flow(spec, tiers={"small"}, allow_imports=("tests",), mcp_servers=servers)


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (polled for a while: the server is stopped, not killed)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
