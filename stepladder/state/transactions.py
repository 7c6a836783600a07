"""One unit of work on the Postgres state store, tried again when the connection was lost.

A database restarted under a running process drops its pooled connections; the pool checks a
connection before lending it, so another try gets a fresh one. The work is one transaction,
so a try that failed left nothing behind and trying again is safe. The tries follow the one
retry policy of `stepladder.state.retry`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from stepladder.state.postgres import open_state
from stepladder.state.retry import retried

__all__ = ["in_state"]

T = TypeVar("T")


def in_state(url: str, work: Callable[[Any], T], what: str) -> T:
    """`work(connection)` in a pooled transaction, tried again on a lost connection.

    Args:
        url: The state store's URL.
        work: What to do, given the connection (committed when it returns).
        what: What the work is, for the error ("writing spans").

    Raises:
        StateStoreError: If the database cannot be reached, or the connection did not come
            back within `stepladder.state.retry.RETRY_SECONDS`.
    """

    @retried(what)
    def once(url: str) -> T:
        with open_state(url) as connection:
            return work(connection)

    return once(url)
