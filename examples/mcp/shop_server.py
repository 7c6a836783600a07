"""The example shop's policy desk as an MCP server (the official `mcp` SDK, over stdio).

`stepladder.yaml` declares it under `mcp_servers` as `shop`; the `shop_help` flow's agent
takes its tools. It reads the policies of the shop's SQLite database (`make examples` builds
it at `.stepladder/orders.sqlite`; `ORDERS_DB` points elsewhere). Try it alone:

    stepladder mcp call shop
    stepladder mcp call --tool shop_policy --args '{"topic": "shipping"}' shop
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

DEFAULT_DB = Path(__file__).resolve().parents[1] / ".stepladder" / "orders.sqlite"
server = MCPServer("shop", log_level="WARNING")


@server.tool()
def shop_policy(topic: Literal["refund", "shipping"]) -> str:
    """Read one of the shop's policies: refunds (return window, what is refunded) or shipping
    (carriers, delivery times, costs).

    Args:
        topic: Which policy: refund or shipping.
    """
    path = Path(os.environ.get("ORDERS_DB") or DEFAULT_DB)
    if not path.is_file():
        raise ToolError(f"no shop database at {path}; build it with `make examples`.")
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        row = db.execute("SELECT text FROM policies WHERE name = ?", (topic,)).fetchone()
    if row is None:
        raise ToolError(f"the shop has no {topic} policy")
    return str(row[0])


if __name__ == "__main__":
    server.run()
