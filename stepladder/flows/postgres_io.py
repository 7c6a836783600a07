"""One unit of work on the Postgres state store, tried again when the connection was lost.

A database restarted under a running process drops its pooled connections; the pool checks a
connection before lending it, so a second try gets a fresh one. The work is one transaction,
so a try that failed left nothing behind and trying again is safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from stepladder.config.state import masked_url
from stepladder.errors import StateStoreError
from stepladder.flows.postgres_state import open_state

__all__ = ["ATTEMPTS", "in_state"]

T = TypeVar("T")
ATTEMPTS = 3
PAUSE_S = 0.3


def in_state(url: str, work: Callable[[Any], T], what: str) -> T:
    """`work(connection)` in a pooled transaction, tried `ATTEMPTS` times on a lost connection.

    Args:
        url: The state store's URL.
        work: What to do, given the connection (committed when it returns).
        what: What the work is, for the error ("writing spans").

    Raises:
        StateStoreError: If the database cannot be reached, or every try lost its connection.
    """
    import psycopg  # lazy: optional extra

    for attempt in range(1, ATTEMPTS + 1):
        try:
            with open_state(url) as connection:
                return work(connection)
        except psycopg.OperationalError as error:
            if attempt == ATTEMPTS:
                reason = " ".join(str(error).replace(url, masked_url(url)).split())
                raise StateStoreError(
                    f"{what} failed on the Postgres state store at {masked_url(url)} after "
                    f"{ATTEMPTS} tries: {reason}"
                ) from None
            time.sleep(PAUSE_S * attempt)
    raise AssertionError("unreachable")  # pragma: no cover
