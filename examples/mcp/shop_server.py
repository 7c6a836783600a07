"""The example shop's policy desk as an MCP server (the official `mcp` SDK, over stdio).

`stepladder.yaml` declares it under `mcp_servers` as `shop`; the `order_support` flow's
agent takes its `refund_policy`, the `shop_help` flow's agent its `shop_policy`. It reads the
policies of the shop's SQLite database (`make examples` builds it at
`.stepladder/orders.sqlite`; `ORDERS_DB` points elsewhere). Try it alone:

    stepladder mcp call shop
    stepladder mcp call --tool shop_policy --args '{"topic": "shipping"}' shop
    stepladder mcp call --tool refund_policy shop
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


def _policy(name: str) -> str:
    """The text of one of the database's policies, or a `ToolError` saying what is missing."""
    path = Path(os.environ.get("ORDERS_DB") or DEFAULT_DB)
    if not path.is_file():
        raise ToolError(f"no shop database at {path}; build it with `make examples`.")
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        row = db.execute("SELECT text FROM policies WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise ToolError(f"the shop has no {name} policy")
    return str(row[0])


@server.tool()
def shop_policy(topic: Literal["refund", "shipping"]) -> str:
    """Read one of the shop's policies: refunds (return window, what is refunded) or shipping
    (carriers, delivery times, costs).

    Args:
        topic: Which policy: refund or shipping.
    """
    return _policy(topic)


@server.tool()
def refund_policy() -> str:
    """Read the shop's refund policy (return window, what is refunded, how fast)."""
    return _policy("refund")


if __name__ == "__main__":
    server.run()
