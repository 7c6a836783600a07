"""Tools from MCP servers: sessions with the servers a project declares, and their tools."""

from stepladder.tools.mcp.clients import McpCallResult, McpClients
from stepladder.tools.mcp.connection import McpConnection, open_client
from stepladder.tools.mcp.spec import McpToolsEntry
from stepladder.tools.mcp.tools import (
    CURRENT_CLIENTS,
    McpToolSource,
    cap_text,
    check_schema,
    mcp_tools,
)

__all__ = [
    "CURRENT_CLIENTS",
    "McpCallResult",
    "McpClients",
    "McpConnection",
    "McpToolSource",
    "McpToolsEntry",
    "cap_text",
    "check_schema",
    "mcp_tools",
    "open_client",
]
