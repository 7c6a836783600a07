"""The project's flows as MCP tools, over stdio (`stepladder mcp`) or at `/mcp` (`serve --mcp`)."""

from stepladder.serve.mcp.flow_tools import error_result, flow_tool, run_result
from stepladder.serve.mcp.server import (
    MCP_PATH,
    call_flow,
    flows_server,
    mount_mcp,
    serve_stdio,
    transport_security,
)

__all__ = [
    "MCP_PATH",
    "call_flow",
    "error_result",
    "flow_tool",
    "flows_server",
    "mount_mcp",
    "run_result",
    "serve_stdio",
    "transport_security",
]
