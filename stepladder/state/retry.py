"""Retrying a state operation whose Postgres connection was lost (a restart, a failover).

A pooled connection that broke mid-operation raises `psycopg.OperationalError`; the pool
drops it, so the operation is tried again on a fresh connection, after 0.25 s, 0.5 s, 1 s,
2 s, 2 s, ... while `RETRY_SECONDS` have not passed. Then (or for a database that cannot be
reached at all) the caller gets one `StateStoreError` that names the store and what to do.
Only operations that may run twice are retried: each is one transaction that writes the
same rows again (upserts, delete-then-insert) or only reads.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from stepladder.config.state import masked_url
from stepladder.errors import StateStoreError

__all__ = ["RETRY_SECONDS", "StoreUnreachable", "lost_connection", "retried", "retried_async"]

logger = logging.getLogger("stepladder.state")

P = ParamSpec("P")
R = TypeVar("R")
RETRY_SECONDS = 20.0
FIRST_PAUSE_S = 0.25
LONGEST_PAUSE_S = 2.0


class StoreUnreachable(StateStoreError):
    """The state store cannot be reached now (connection refused, dropped, timed out)."""


def lost_connection(error: BaseException) -> bool:
    """Whether `error` is a connection problem that another try may not have."""
    if isinstance(error, StoreUnreachable):
        return True
    try:
        import psycopg  # lazy: optional extra
    except ImportError:
        return False
    return isinstance(error, psycopg.OperationalError)


def _next_pause(started: float, tries: int) -> float | None:
    """How long to wait before try `tries + 1`; None once `RETRY_SECONDS` would pass."""
    pause = min(FIRST_PAUSE_S * 2**tries, LONGEST_PAUSE_S)
    return None if time.monotonic() - started + pause > RETRY_SECONDS else pause


def _gave_up(url: str, what: str, error: BaseException, started: float) -> StateStoreError:
    reason = " ".join(str(error).replace(url, masked_url(url)).split()) or type(error).__name__
    seconds = time.monotonic() - started
    return StateStoreError(
        f"lost the connection to the Postgres state store at {masked_url(url)} during {what} "
        f"and could not get it back within {seconds:.0f} s ({reason}). Check that the database "
        "is up (GET /healthz reports it), then run again: a run on a thread continues from its "
        "last checkpoint."
    )


def _pause_after(error: Exception, url: str, what: str, started: float, tries: int) -> float:
    """How long to wait before trying again after `error`; raises when not to try again.

    Raises:
        Exception: `error` itself when it is not a lost connection, or a `StateStoreError`
            that already says why the database cannot be reached.
        StateStoreError: Once `RETRY_SECONDS` have passed (`_gave_up`).
    """
    if not lost_connection(error):
        raise error
    pause = _next_pause(started, tries)
    if pause is None and isinstance(error, StateStoreError):
        raise error  # it says why the database cannot be reached
    if pause is None:
        raise _gave_up(url, what, error, started) from None
    logger.warning("Postgres state store: %s failed (%s), retrying", what, error)
    return pause


def retried(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry the decorated function (whose first argument is the URL) on a lost connection.

    Args:
        what: What it does, for the log and the final error ("saving run records").
    """

    def decorate(operation: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(operation)
        def attempt(*args: P.args, **kwargs: P.kwargs) -> R:
            started, tries = time.monotonic(), 0
            while True:
                try:
                    return operation(*args, **kwargs)
                except Exception as error:
                    time.sleep(_pause_after(error, str(args[0]), what, started, tries))
                    tries += 1

        return attempt

    return decorate


async def retried_async(
    url: str,
    what: str,
    operation: Callable[[], Awaitable[R]],
    before_retry: Callable[[], Awaitable[None]] | None = None,
) -> R:
    """Await `operation()`, tried again on a lost connection as `retried` does.

    `before_retry` is awaited before each new try (a lost connection there is one more
    failure; any other error ends the tries).
    """
    started, tries = time.monotonic(), 0
    while True:
        try:
            if tries and before_retry is not None:
                await before_retry()
            return await operation()
        except Exception as error:
            await asyncio.sleep(_pause_after(error, url, what, started, tries))
            tries += 1
