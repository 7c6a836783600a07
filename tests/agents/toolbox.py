"""Tools for the agent tests (imported by reference, as a project's would be)."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel

ORDERS = {"42": "shipped", "7": "processing"}
CUSTOMERS = {"42": "Ada Lovelace", "7": "Alan Turing"}


def get_order_status(order_id: str) -> str:
    """Look up the status of an order.

    Args:
        order_id: The order number, digits only.
    """
    return ORDERS.get(order_id, "unknown order")


async def get_customer(order_id: str) -> dict[str, str]:
    """Find who placed an order.

    Args:
        order_id: The order number.
    """
    return {"order_id": order_id, "name": CUSTOMERS.get(order_id, "nobody")}


def search_orders(
    status: Literal["shipped", "processing"],
    limit: int = 5,
    include_archived: bool = False,
    note: str | None = None,
) -> list[str]:
    """Search orders by status.

    The second paragraph of the summary.

    Args:
        status: Which orders to list.
        limit (int): At most this many
            orders (a description on two lines).
        include_archived: Also search old orders.
        note: Ignored.

    Returns:
        Matching order ids.
    """
    found = [key for key, value in ORDERS.items() if value == status]
    return found[:limit]


def broken(order_id: str) -> str:
    """A tool that always fails."""
    raise RuntimeError(f"database is down for {order_id}")


async def slow(order_id: str) -> str:
    """A tool that takes too long."""
    await asyncio.sleep(5)
    return "too late"


def refund(order_id: str, amount: float = 0.0) -> str:
    """Implementation of a tool declared in YAML."""
    return f"refunded {amount:.2f} on {order_id}"


def policy() -> str:
    """Read the return policy (a tool without parameters)."""
    return "Returns within 30 days."


NOT_CALLABLE = 3


class Address(BaseModel):
    """Where to ship."""

    city: str


def ship(order_id: str, to: Address) -> str:
    """Ship an order (a tool with a nested model argument)."""
    return f"{order_id} to {to.city}"
