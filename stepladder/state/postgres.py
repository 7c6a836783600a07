"""Pending reviews and thread owners in Postgres, for projects with `state.postgres` set.

The same two tables as in the SQLite checkpoint file (`stepladder_reviews`,
`stepladder_threads`), so that a review paused by one process is listed and answered by
another (over one `psycopg_pool` pool per database and process). Their schema is versioned
in `stepladder_schema`: the first connection of a process applies the migrations this
version knows (under an advisory lock, so replicas starting together do not race) and
refuses a database whose schema is newer than it knows. Version 2 adds the service's runs
registry, `stepladder_runs` (`stepladder.serve.postgres_history`); version 3 the trace store and
eval runs; version 4 the replay records, `stepladder_records` (`stepladder.replay`).

An operation whose connection is lost (the database restarted) is tried again on a fresh
connection for a while (`stepladder.state.retry`); a database never reached in
this process is reported at once.
"""

from __future__ import annotations

import atexit
import os
import select
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from stepladder.config.state import masked_url, missing_driver
from stepladder.errors import StateStoreError
from stepladder.state.retry import StoreUnreachable, retried

__all__ = [
    "SCHEMA_VERSION",
    "claim_thread",
    "flow_of_thread",
    "hold_thread",
    "load_review_rows",
    "open_state",
    "reached",
    "replica_name",
    "save_review_rows",
    "still_connected",
    "thread_running",
]

ReviewRow = tuple[str, str, str, str | None, str, str, str]

CONNECT_SECONDS = 10
# pg_advisory_xact_lock key of stepladder's own migrations ("stepschm" in ASCII).
_MIGRATION_LOCK = 0x73746570736368
# The first key of every thread's advisory lock (the second is the thread id's hash).
_THREAD_LOCKS = 0x73746C64
_VERSIONS = "stepladder_schema"
# Migration n (1-based) brings the schema from version n-1 to n; append, never edit.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS stepladder_threads (
            thread_id TEXT PRIMARY KEY,
            flow TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS stepladder_reviews (
            thread_id TEXT NOT NULL,
            interrupt_id TEXT NOT NULL,
            flow TEXT NOT NULL,
            source TEXT,
            node TEXT NOT NULL,
            asked_at TEXT,
            payload TEXT NOT NULL,
            PRIMARY KEY (thread_id, interrupt_id)
        )""",
    ),
    (
        """CREATE TABLE IF NOT EXISTS stepladder_runs (
            seq BIGSERIAL NOT NULL,
            run_id TEXT PRIMARY KEY,
            flow TEXT NOT NULL,
            status TEXT NOT NULL,
            thread_id TEXT,
            replica TEXT NOT NULL,
            created_at TEXT NOT NULL,
            record TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS stepladder_runs_seq ON stepladder_runs (seq)",
    ),
    (  # the trace store and eval runs (tracing.postgres_spans, evalsets.postgres_runs)
        """CREATE TABLE IF NOT EXISTS stepladder_spans (
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            start_ns BIGINT NOT NULL,
            seq BIGSERIAL,
            data TEXT NOT NULL,
            PRIMARY KEY (trace_id, span_id)
        )""",
        "CREATE INDEX IF NOT EXISTS stepladder_spans_start ON stepladder_spans (start_ns)",
        """CREATE TABLE IF NOT EXISTS stepladder_eval_runs (
            run_id TEXT PRIMARY KEY,
            eval_name TEXT NOT NULL,
            manifest TEXT NOT NULL,
            written BIGSERIAL
        )""",
        """CREATE TABLE IF NOT EXISTS stepladder_eval_results (
            run_id TEXT NOT NULL REFERENCES stepladder_eval_runs ON DELETE CASCADE,
            case_id TEXT NOT NULL,
            seq BIGSERIAL,
            result TEXT NOT NULL,
            PRIMARY KEY (run_id, case_id)
        )""",
    ),
    (  # replay records (replay.postgres_records)
        """CREATE TABLE IF NOT EXISTS stepladder_records (
            run_id TEXT PRIMARY KEY,
            flow TEXT NOT NULL,
            created TEXT NOT NULL,
            version INTEGER NOT NULL,
            record TEXT NOT NULL,
            written BIGSERIAL
        )""",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)
_migrated: set[str] = set()
POOL_SIZE = 4
_pools: dict[str, Any] = {}
_pools_lock = threading.Lock()


@contextmanager
def open_state(url: str) -> Iterator[Any]:
    """A pooled connection in a transaction (committed on success), the schema migrated first.

    Each database gets one connection pool per process (`psycopg_pool`, closed at exit);
    a pooled connection is checked before use, so a restarted database is reconnected to.

    Raises:
        StateStoreError: If the database cannot be reached, or its schema is newer.
    """
    from psycopg_pool import PoolTimeout  # lazy: optional extra

    pool = _pool(url)
    try:
        with pool.connection(timeout=CONNECT_SECONDS) as connection:
            if url not in _migrated:
                with connection.transaction():
                    _migrate(connection, url)
                _migrated.add(url)
            with connection.transaction():
                yield connection
    except PoolTimeout:
        try:
            _probe(url)
        except StateStoreError as error:  # the reason it cannot connect (now)
            raise StoreUnreachable(str(error)) from None
        raise StoreUnreachable(
            f"no connection to the Postgres state store at {masked_url(url)} came free within "
            f"{CONNECT_SECONDS} s; it is overloaded or its connection limit is reached."
        ) from None


def _pool(url: str) -> Any:
    """The process's connection pool for `url`, opened on first use (after a probe)."""
    with _pools_lock:
        pool = _pools.get(url)
        if pool is not None:
            return pool
        _probe(url)
        from psycopg_pool import ConnectionPool  # lazy: optional extra

        pool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": CONNECT_SECONDS, "application_name": replica_name()},
            open=True,
        )
        _pools[url] = pool
        atexit.register(pool.close)
        return pool


def reached(url: str) -> bool:
    """Whether this process has used the database at `url` (so a failure now is a lost one)."""
    return url in _migrated


def replica_name() -> str:
    """This process as Postgres lists it (`application_name`): the service's replica name."""
    return f"stepladder pid {os.getpid()} on {socket.gethostname()}"[:63]


def probe(url: str) -> None:
    """Connect once to the state store (a health check).

    Raises:
        StateStoreError: Why the database cannot be reached, and what to do.
    """
    _probe(url)


def _probe(url: str) -> None:
    """Connect once, to report why the database cannot be reached (a `StateStoreError`)."""
    try:
        import psycopg  # lazy: optional extra
    except ImportError as error:
        raise missing_driver(error) from None
    try:
        psycopg.connect(url, connect_timeout=CONNECT_SECONDS).close()
    except psycopg.Error as error:
        reason = " ".join(str(error).replace(url, masked_url(url)).split())
        raise StateStoreError(
            f"cannot reach the Postgres state store at {masked_url(url)}: {reason}. Start the "
            "database or fix state.postgres in stepladder.yaml (or STEPLADDER_POSTGRES_URL)."
        ) from None


def _migrate(connection: Any, url: str) -> None:
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
    connection.execute(f"CREATE TABLE IF NOT EXISTS {_VERSIONS} (version INTEGER PRIMARY KEY)")
    row = connection.execute(f"SELECT coalesce(max(version), 0) FROM {_VERSIONS}").fetchone()
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise StateStoreError(
            f"the Postgres state store at {masked_url(url)} has schema version {version}, newer "
            f"than this stepladder knows ({SCHEMA_VERSION}): a newer stepladder wrote it. "
            "Upgrade stepladder here, or point state.postgres at another database."
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS[number - 1]:
            connection.execute(statement)
        connection.execute(f"INSERT INTO {_VERSIONS} (version) VALUES (%s)", (number,))


@retried("saving pending reviews")
def save_review_rows(url: str, thread_id: str, rows: Sequence[ReviewRow]) -> None:
    """Make `rows` the thread's pending reviews (none: the thread waits for nothing).

    Each row: thread, interrupt id, flow, source, node, asked_at and the JSON payload, as
    `stepladder.flows.reviews` writes them.
    """
    with open_state(url) as connection:
        connection.execute("DELETE FROM stepladder_reviews WHERE thread_id = %s", (thread_id,))
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO stepladder_reviews VALUES (%s, %s, %s, %s, %s, %s, %s)", rows
            )


@retried("reading pending reviews")
def load_review_rows(url: str, thread_id: str | None = None) -> list[tuple[str, str, str]]:
    """The pending reviews' thread, interrupt id and payload (of one thread, or all)."""
    where, arguments = ("WHERE thread_id = %s", (thread_id,)) if thread_id else ("", ())
    with open_state(url) as connection:
        rows = connection.execute(
            f"SELECT thread_id, interrupt_id, payload FROM stepladder_reviews {where} "
            "ORDER BY asked_at, thread_id",
            arguments,
        ).fetchall()
    return [(str(thread), str(interrupt), str(payload)) for thread, interrupt, payload in rows]


@retried("reading a thread's flow")
def flow_of_thread(url: str, thread_id: str) -> tuple[str, str] | None:
    """The flow a thread belongs to and when its first run started, if known."""
    with open_state(url) as connection:
        row = connection.execute(
            "SELECT flow, created_at FROM stepladder_threads WHERE thread_id = %s", (thread_id,)
        ).fetchone()
        if row is None:
            row = connection.execute(
                "SELECT flow, asked_at FROM stepladder_reviews WHERE thread_id = %s "
                "ORDER BY asked_at LIMIT 1",
                (thread_id,),
            ).fetchone()
    return (str(row[0]), str(row[1])) if row is not None else None


@retried("recording a thread's flow")
def claim_thread(url: str, thread_id: str, flow: str) -> str:
    """Record `flow` as the thread's flow unless it has one; the thread's flow."""
    now = datetime.now(UTC).isoformat()
    with open_state(url) as connection:
        connection.execute(
            "INSERT INTO stepladder_threads VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (thread_id, flow, now),
        )
        row = connection.execute(
            "SELECT flow FROM stepladder_threads WHERE thread_id = %s", (thread_id,)
        ).fetchone()
    return str(row[0])


@retried("taking a thread's lock")
def hold_thread(url: str, thread_id: str) -> tuple[Any, str]:
    """Try to take the thread's advisory lock on a connection of its own, without waiting.

    The lock is Postgres's, so it holds for every process on the database, on any machine;
    Postgres lets go of it when the connection closes, a killed process's included.

    Returns:
        The connection holding the lock (close it to let go), or None and the holder's name.
    """
    import psycopg  # lazy: optional extra

    if url not in _migrated:
        with open_state(url):
            pass  # reachable, schema current
    connection = psycopg.connect(
        url, autocommit=True, connect_timeout=CONNECT_SECONDS, application_name=replica_name()
    )
    try:
        row = connection.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (_THREAD_LOCKS, thread_id)
        ).fetchone()
        if row is not None and row[0]:
            return connection, ""
        holder = connection.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
            "AND l.classid::bigint = %s AND l.objid::bigint = hashtext(%s)::bigint & 4294967295",
            (_THREAD_LOCKS, thread_id),
        ).fetchone()
    except BaseException:
        connection.close()
        raise
    connection.close()
    return None, str(holder[0]) if holder else ""


@retried("checking a thread's lock")
def thread_running(url: str, thread_id: str) -> bool:
    """Whether a run, in any process on the database, holds the thread's lock now."""
    with open_state(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objsubid = 2 AND classid::bigint = %s "
            "AND objid::bigint = hashtext(%s)::bigint & 4294967295",
            (_THREAD_LOCKS, thread_id),
        ).fetchone()
    return bool(row and row[0])


def still_connected(connection: Any) -> bool:
    """Whether a connection of `hold_thread` still answers (its lock is then still held).

    An idle connection the server has not written to is taken as alive without a round trip
    (a server that stops or ends the session writes to it, or closes it).
    """
    if connection.closed or connection.broken:
        return False
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
        if readable:
            connection.execute("SELECT 1")
    except Exception:
        return False
    return True
