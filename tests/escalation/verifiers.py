"""Verifier functions referenced by escalation tests (`tests.escalation.verifiers:...`)."""

from __future__ import annotations


def has_digits(order_id: str | None, message: str) -> tuple[bool, str]:
    """Passes when the order id is digits found in the message."""
    if order_id and order_id.isdigit() and order_id in message:
        return True, ""
    return False, f"order id {order_id!r} is not digits from the message"


def always(**values: object) -> bool:
    """Accepts anything."""
    return True


def broken(order_id: str | None) -> str:
    """Returns the wrong type."""
    return "yes"
