"""Checkpoint threads: one writer at a time, and the flow each thread belongs to.

A run on a thread holds the thread's lock file for as long as it runs:
`<state_dir>/threads/<sha256 of the id>.lock`, locked with `flock`, so the operating system
releases it when the process ends in any way (a `kill -9` included) and the next run takes
the thread over. A second run, in this process or another, is refused at once with a
`ThreadConflictError` that names the process holding it. The holder removes the file before
it lets go of the lock; a process that opened the old file checks, once it holds the lock,
that its file is still the one at the path.

The first run on a thread records its flow (table `stepladder_threads` in the checkpoint
database, beside LangGraph's tables and the pending reviews); a run of another flow on that
thread is refused, since the checkpoint holds the other flow's state.

With `state.postgres`, the lease also holds the thread's Postgres advisory lock on a
connection of its own. A database restart drops that connection, and the lock with it: a
run's checkpoint write first takes the lock again if it was lost (`thread_lock_lost`,
`reassert_thread`), and fails with a `ThreadConflictError` if another run took it meanwhile.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stepladder.errors import ThreadConflictError
from stepladder.flows.reviews import load_reviews, open_table

__all__ = [
    "ThreadLease",
    "claim_thread",
    "flow_of_thread",
    "lock_path",
    "lock_thread",
    "reassert_thread",
    "thread_lock_lost",
]

LOCK_FOLDER = "threads"
_leases: dict[str, ThreadLease] = {}  # this process's threads held in Postgres
_leases_lock = threading.Lock()
_relock = threading.Lock()
_TABLE = "stepladder_threads"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    thread_id TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


@dataclass
class ThreadLease:
    """A thread held by this process for one run; `release` lets it go (also on exit).

    Attributes:
        thread_id: The thread.
        path: Its lock file.
    """

    thread_id: str
    path: Path
    _fd: int | None
    _shared: Any = None  # the Postgres connection holding the thread's advisory lock
    _url: str | None = None  # its database

    def release(self) -> None:
        """Remove the lock file and let go of the lock (idempotent)."""
        if self._shared is not None:
            shared, self._shared = self._shared, None
            with _leases_lock:
                if _leases.get(self.thread_id) is self:
                    del _leases[self.thread_id]
            shared.close()
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ThreadLease:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def lock_path(db: Path, thread_id: str) -> Path:
    """The lock file of `thread_id` beside the checkpoint database `db` (ids may be any text)."""
    digest = hashlib.sha256(thread_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return db.parent / LOCK_FOLDER / f"{digest}.lock"


def lock_thread(db: Path, thread_id: str, *, postgres: str | None = None) -> ThreadLease:
    """Take the lock of `thread_id` for one run, without waiting.

    With `postgres` (the project's `state.postgres`), the run also takes the thread's
    advisory lock there, so processes on other machines sharing the database wait too.

    Raises:
        ThreadConflictError: When another run, in any process, holds the thread.
        StateStoreError: When `postgres` cannot be reached.
    """
    lease = _lock(lock_path(db, thread_id), thread_id)
    if postgres is None:
        return lease
    from stepladder.state import postgres as postgres_state  # lazy: optional extra

    try:
        shared, holder = postgres_state.hold_thread(postgres, thread_id)
    except BaseException:
        lease.release()
        raise
    if shared is None:
        lease.release()
        raise _running(thread_id, holder)
    lease._shared, lease._url = shared, postgres
    with _leases_lock:
        _leases[thread_id] = lease
    return lease


def thread_lock_lost(thread_id: str) -> bool:
    """Whether this process held the thread in Postgres and its lock's connection is gone."""
    with _leases_lock:
        lease = _leases.get(thread_id)
    if lease is None or lease._shared is None:
        return False
    from stepladder.state import postgres as postgres_state  # lazy: optional extra

    return not postgres_state.still_connected(lease._shared)


def reassert_thread(thread_id: str) -> None:
    """Make sure this process still holds the thread's Postgres lock; take it again if lost.

    A no-op for a thread this process does not hold in Postgres.

    Raises:
        ThreadConflictError: When another run took the thread while the lock was lost.
        StateStoreError: When the database cannot be reached.
    """
    with _leases_lock:
        lease = _leases.get(thread_id)
    if lease is None or lease._url is None:
        return
    from stepladder.state import postgres as postgres_state  # lazy: optional extra

    with _relock:  # one at a time: a run's writes may find the loss together
        if lease._shared is None or postgres_state.still_connected(lease._shared):
            return
        shared, holder = postgres_state.hold_thread(lease._url, thread_id)
        if shared is None:
            raise _running(thread_id, holder)
        old, lease._shared = lease._shared, shared
        old.close()


def flow_of_thread(
    db: Path, thread_id: str, *, postgres: str | None = None
) -> tuple[str, str] | None:
    """The flow a thread belongs to and when its first run started, if known.

    With `postgres` (the project's `state.postgres`) the owners are read there.
    """
    if postgres is not None:
        from stepladder.state import postgres as postgres_state  # lazy: optional extra

        return postgres_state.flow_of_thread(postgres, thread_id)
    if not db.is_file():
        return None
    with open_table(db, _SCHEMA) as connection:
        row = connection.execute(
            f"SELECT flow, created_at FROM {_TABLE} WHERE thread_id = ?", (thread_id,)
        ).fetchone()
    if row is not None:
        return str(row[0]), str(row[1])
    reviews = load_reviews(db, thread_id)
    return (reviews[0].flow, reviews[0].asked_at) if reviews else None


def claim_thread(db: Path, thread_id: str, flow: str, *, postgres: str | None = None) -> None:
    """Record `flow` as the thread's flow unless it has one (hold its lock first).

    With `postgres` (the project's `state.postgres`) the owner is recorded there.

    Raises:
        ThreadConflictError: When the thread belongs to another flow.
    """
    if postgres is not None:
        from stepladder.state import postgres as postgres_state  # lazy: optional extra

        owner = postgres_state.claim_thread(postgres, thread_id, flow)
        if owner != flow:
            raise _other_flow(thread_id, owner)
        return
    now = datetime.now(UTC).isoformat()
    reviews = load_reviews(db, thread_id)
    with open_table(db, _SCHEMA) as connection:
        first = reviews[0].flow if reviews else flow
        connection.execute(
            f"INSERT OR IGNORE INTO {_TABLE} VALUES (?, ?, ?)", (thread_id, first, now)
        )
        row = connection.execute(
            f"SELECT flow FROM {_TABLE} WHERE thread_id = ?", (thread_id,)
        ).fetchone()
    if row[0] != flow:
        raise _other_flow(thread_id, str(row[0]))


def _lock(path: Path, thread_id: str) -> ThreadLease:
    """Lock `path` without waiting (see the module's note on removed files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise _running(thread_id, owner) from None
        except BaseException:
            os.close(fd)
            raise
        if _still_at(fd, path):
            _write_owner(fd)
            return ThreadLease(thread_id, path, fd)
        os.close(fd)  # the holder removed it after we opened it: take the new file


def _still_at(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


def _write_owner(fd: int) -> None:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    owner = f"pid {os.getpid()} on {socket.gethostname()}, since {started}"
    os.ftruncate(fd, 0)
    os.pwrite(fd, owner.encode(), 0)


def _read_owner(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _running(thread_id: str, owner: str) -> ThreadConflictError:
    by = f" ({owner})" if owner else ""
    return ThreadConflictError(
        thread_id,
        "running",
        f"thread '{thread_id}' has a run in progress{by}; one run at a time may write a "
        "thread. Wait for it to end (rerun with the same thread to continue it if it stopped), "
        "or start a new run on another thread.",
    )


def _other_flow(thread_id: str, flow: str) -> ThreadConflictError:
    return ThreadConflictError(
        thread_id,
        "other_flow",
        f"thread '{thread_id}' belongs to flow '{flow}'; its checkpoint holds that flow's "
        "state. Use another thread id (--thread) for this flow.",
    )
