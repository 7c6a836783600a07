"""Tools of the `order_support` flow's agent: read the example shop's SQLite database.

The database is built by `scripts/make_orders_db.py` (`make examples` does it) at
`.stepladder/orders.sqlite`; the environment variable `ORDERS_DB` points elsewhere. Each call
opens the database read-only, so the tools can run in threads side by side.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

DEFAULT_DB = Path(__file__).resolve().parents[1] / ".stepladder" / "orders.sqlite"


def database() -> Path:
    """The database file (`ORDERS_DB`, else the example's state folder).

    Raises:
        FileNotFoundError: Saying how to build it.
    """
    path = Path(os.environ.get("ORDERS_DB") or DEFAULT_DB)
    if not path.is_file():
        raise FileNotFoundError(
            f"no orders database at {path}; build it with `make examples` (from the "
            "repository root) or `python scripts/make_orders_db.py` (from examples/)."
        )
    return path


def money(amount: float) -> str:
    """An amount as an invoice shows it, with two decimals (`225.3` -> `"225.30"`)."""
    return f"{amount:.2f}"


def _rows(query: str, *params: Any) -> list[dict[str, Any]]:
    with sqlite3.connect(f"{database().as_uri()}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(query, params)]


def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up one order: its status, total, dates, carrier, customer and items.

    Args:
        order_id: The order number (five digits, such as 10042).
    """
    found = _rows(
        "SELECT o.id AS order_id, o.status, o.total, o.placed, o.delivered, o.carrier, "
        "o.tracking, c.id AS customer_id, c.name AS customer FROM orders o "
        "JOIN customers c ON c.id = o.customer_id WHERE o.id = ?",
        order_id,
    )
    if not found:
        raise LookupError(f"there is no order {order_id}")
    order = {key: value for key, value in found[0].items() if value is not None}
    order["total"] = money(order["total"])
    items = _rows(
        "SELECT product, quantity, unit_price FROM order_items WHERE order_id = ?", order_id
    )
    lines = [f"{i['quantity']} x {i['product']} at {money(i['unit_price'])}" for i in items]
    return {**order, "items": lines}


def list_customer_orders(customer_id: int) -> dict[str, Any]:
    """List a customer's orders, newest first: number, date, status and total of each.

    Args:
        customer_id: The customer number (three digits, such as 517).
    """
    customer = _rows("SELECT id, name FROM customers WHERE id = ?", customer_id)
    if not customer:
        raise LookupError(f"there is no customer {customer_id}")
    orders = _rows(
        "SELECT id AS order_id, placed, status, total FROM orders WHERE customer_id = ? "
        "ORDER BY placed DESC, id DESC",
        customer_id,
    )
    for order in orders:
        order["total"] = money(order["total"])
    return {"customer": customer[0]["name"], "order_count": len(orders), "orders": orders}


def hand_off(message: str, category: str) -> str:
    """The reply for a message the order agent does not handle: it goes to the support desk."""
    label = str(getattr(category, "value", category)).lower().replace("_", " ")
    return f"Thanks for your message about {label}; a member of our support team will reply soon."
