"""An MCP server written with the official `mcp` SDK, for the tests (stdio or HTTP).

`python shop_server.py [stdio | http PORT] [--bad-schema] [--prefix NAME]`. Its tools: order
lookups, a sum, a long text, a reported failure, a hang and a crash. `CRASH_FILE` (env), when
set, is a file whose presence makes `crash` exit the process (a server that dies mid-run).
`STARTS_FILE` (env), when set, is a file the server appends its process id to as it starts.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

ORDERS = {"42": "shipped", "7": "processing"}
server = MCPServer("shop", log_level="WARNING")


@server.tool()
def order_status(order_id: str) -> str:
    """The status of an order.

    Args:
        order_id: The order number.
    """
    return ORDERS.get(order_id, f"no order {order_id}")


@server.tool()
def add_numbers(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@server.tool()
def search(query: str) -> list[str]:
    """Order numbers whose status contains `query`."""
    return [number for number, status in ORDERS.items() if query in status]


@server.tool()
def long_text(size: int) -> str:
    """A text of `size` characters."""
    return "x" * size


@server.tool()
def refuse(reason: str) -> str:
    """Always fails, with `reason`."""
    raise ToolError(f"refused: {reason}")


@server.tool()
def hang(seconds: float) -> str:
    """Sleeps for `seconds`."""
    time.sleep(seconds)
    return "woke"


@server.tool()
def crash() -> str:
    """Exits the server's process while answering (when its crash file exists)."""
    marker = os.environ.get("CRASH_FILE")
    if marker and os.path.exists(marker):
        os._exit(3)
    return "still here"


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


def main(argv: list[str]) -> None:
    """Run over stdio, or over streamable HTTP on a port."""
    starts = os.environ.get("STARTS_FILE")
    if starts:
        with open(starts, "a", encoding="utf-8") as file:
            file.write(f"{os.getpid()}\n")
    if "--bad-schema" in argv:
        tool: Any = server._tool_manager._tools["add_numbers"]  # a broken schema on purpose
        tool.parameters = {
            "type": "object",
            "properties": {"a": {"type": "integer", "minimum": "zero"}},
        }
    if argv[:1] == ["http"]:
        server.run("streamable-http", port=int(argv[1]))
    else:
        server.run()


if __name__ == "__main__":
    main(sys.argv[1:])
