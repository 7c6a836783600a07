"""The checkpointer of a run's thread: SQLite in the project folder, or Postgres when set.

With `state.postgres` (or `STEPLADDER_POSTGRES_URL`), threads are written with LangGraph's
`AsyncPostgresSaver` over a `psycopg_pool` connection pool, so another process on the same
database continues a run this one started. The first use of a database in a process creates
or migrates LangGraph's tables (`setup()`, under an advisory lock, so replicas starting
together do not race). A database that cannot be reached is a `StateStoreError` naming the
URL, its password masked, before any node runs; a connection lost during a run (the database
restarted) is replaced and the checkpoint read or write tried again (`postgres_saver`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from stepladder.config.state import masked_url, missing_driver
from stepladder.errors import StateStoreError
from stepladder.state.postgres import reached, replica_name
from stepladder.state.retry import StoreUnreachable, retried_async

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["CONNECT_SECONDS", "open_checkpointer"]

CONNECT_SECONDS = 10
POOL_SIZE = 4
# pg_advisory_lock key for LangGraph's table migrations ("stepladder" in ASCII, 8 bytes).
_SETUP_LOCK = 0x737465706C616464
_ready: set[str] = set()
_setup_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def open_checkpointer(
    db: Path, postgres: str | None = None
) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """The checkpointer for a run: Postgres at `postgres` when given, else SQLite at `db`.

    Raises:
        StateStoreError: If Postgres cannot be reached, or its driver is not installed.
    """
    if postgres is None:
        async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
            yield saver
        return
    async with _postgres_saver(postgres) as saver:
        yield saver


@asynccontextmanager
async def _postgres_saver(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    try:
        # lazy: the optional extra (langgraph's Postgres saver, psycopg, psycopg_pool)
        from stepladder.flows.postgres_saver import RetryingPostgresSaver
    except ImportError as error:
        raise missing_driver(error) from None
    await retried_async(url, "setting up the checkpoint tables", lambda: _set_up(url))
    pool = await retried_async(url, "opening a run's connections", lambda: _open_pool(url))
    try:
        yield RetryingPostgresSaver(pool, url)
    finally:
        await pool.close()


async def _open_pool(url: str) -> AsyncConnectionPool[Any]:
    from psycopg.rows import dict_row  # lazy: optional extra
    from psycopg_pool import AsyncConnectionPool, PoolTimeout  # lazy: optional extra

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=POOL_SIZE,
        open=False,
        check=AsyncConnectionPool.check_connection,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "application_name": replica_name(),
        },
    )
    try:
        await pool.open(wait=True, timeout=CONNECT_SECONDS)
    except PoolTimeout as error:
        await pool.close()
        raise _unreachable(url, error) from None
    return pool


async def _set_up(url: str) -> None:
    """Create or migrate LangGraph's checkpoint tables, once per database and process.

    The runs that start together in a process wait for one of them to do it (several at once
    would only queue on the advisory lock, where LangGraph's concurrent index builds can
    deadlock with them).
    """
    if url in _ready:
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver  # lazy: optional extra

    loop = asyncio.get_running_loop()
    async with _setup_locks.setdefault(loop, asyncio.Lock()):
        if url in _ready:
            return
        async with await _connect(url) as connection:
            await connection.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
            try:
                await AsyncPostgresSaver(connection).setup()
            finally:
                await connection.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        _ready.add(url)


async def _connect(url: str) -> AsyncConnection[Any]:
    import psycopg  # lazy: optional extra
    from psycopg.rows import dict_row  # lazy: optional extra

    try:
        return await psycopg.AsyncConnection.connect(
            url,
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
            connect_timeout=CONNECT_SECONDS,
        )
    except psycopg.Error as error:
        raise _unreachable(url, error) from None


def _unreachable(url: str, error: Exception) -> StateStoreError:
    """Why `url` cannot be reached: a `StoreUnreachable` (tried again) once it was reached."""
    reason = " ".join(str(error).replace(url, masked_url(url)).split()) or type(error).__name__
    kind = StoreUnreachable if reached(url) else StateStoreError
    return kind(
        f"cannot reach the Postgres state store at {masked_url(url)}: {reason}. Start the "
        "database or fix state.postgres in stepladder.yaml (or STEPLADDER_POSTGRES_URL); "
        "remove it to keep state in the project folder."
    )
