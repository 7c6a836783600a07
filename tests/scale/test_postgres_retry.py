"""Retrying a state operation whose Postgres connection was lost, with a bounded backoff;
a thread's lock, lost with its connection, taken again (or refused if another run took it)."""

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from stepladder.errors import StateStoreError, ThreadConflictError
from stepladder.flows.threads import lock_thread, reassert_thread, thread_lock_lost
from stepladder.serve.errors import failure_of
from stepladder.state import postgres as postgres_state
from stepladder.state import retry as postgres_retry
from stepladder.state.retry import StoreUnreachable, retried, retried_async
from tests.postgres_server import PostgresServer

URL = "postgresql://app:secret@db.internal:5432/app"


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_retry, "FIRST_PAUSE_S", 0.001)
    monkeypatch.setattr(postgres_retry, "LONGEST_PAUSE_S", 0.002)
    monkeypatch.setattr(postgres_retry, "RETRY_SECONDS", 0.05)


def flaky(failures: int, error: Exception) -> tuple[list[str], Callable[[str, str], str]]:
    calls: list[str] = []

    @retried("saving run records")
    def save(url: str, value: str) -> str:
        calls.append(value)
        if len(calls) <= failures:
            raise error
        return value

    return calls, save


def test_postgres_lost_connection_is_tried_again_until_it_comes_back() -> None:
    calls, save = flaky(2, psycopg.OperationalError("server closed the connection"))
    assert save(URL, "row") == "row"
    assert calls == ["row", "row", "row"]


def test_postgres_connection_that_stays_lost_is_one_clear_error() -> None:
    calls, save = flaky(10_000, psycopg.OperationalError(f"no route to {URL}"))
    with pytest.raises(StateStoreError) as raised:
        save(URL, "row")
    message = str(raised.value)
    assert "lost the connection to the Postgres state store" in message
    assert "during saving run records" in message and "secret" not in message
    assert 1 < len(calls) < 10_000
    assert failure_of(raised.value).status == 503
    assert failure_of(raised.value).error == "state_unavailable"


def test_postgres_store_unreachable_keeps_its_reason_and_other_errors_are_not_retried() -> None:
    calls, save = flaky(10_000, StoreUnreachable("cannot reach the Postgres state store"))
    with pytest.raises(StoreUnreachable, match="cannot reach"):
        save(URL, "row")
    assert len(calls) > 1
    calls, save = flaky(1, psycopg.errors.UniqueViolation("duplicate key"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        save(URL, "row")
    assert calls == ["row"]


def test_postgres_async_operation_is_tried_again() -> None:
    calls: list[int] = []

    async def write() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise psycopg.OperationalError("consuming input failed")
        return len(calls)

    assert asyncio.run(retried_async(URL, "writing a checkpoint", write)) == 3


def test_postgres_thread_lock_lost_with_its_connection_is_taken_again_or_refused(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.create_database(f"relock_{uuid.uuid4().hex[:8]}")
    db = tmp_path / "checkpoints.sqlite"
    with lock_thread(db, "kept", postgres=url), lock_thread(db, "taken", postgres=url):
        with psycopg.connect(url, autocommit=True) as admin:  # what a restart does to them
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (postgres_state.replica_name(),),
            )
            lock = "SELECT pg_try_advisory_lock(%s, hashtext(%s))"
            deadline = time.monotonic() + 30
            while not (thread_lock_lost("kept") and thread_lock_lost("taken")):
                assert time.monotonic() < deadline  # seen without a query once the server hung up
                time.sleep(0.05)
            row = admin.execute(lock, (postgres_state._THREAD_LOCKS, "taken")).fetchone()
            assert row is not None and row[0]  # another run took it meanwhile
            with pytest.raises(ThreadConflictError, match="'taken' has a run in progress"):
                reassert_thread("taken")
        reassert_thread("kept")  # nobody took it: held again
        assert not thread_lock_lost("kept")
        with pytest.raises(ThreadConflictError):
            lock_thread(tmp_path / "elsewhere.sqlite", "kept", postgres=url)
