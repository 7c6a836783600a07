"""Checkpointed runs: which flow a thread belongs to, and reading a run back from its checkpoint.

The service notes each thread it runs in the project's checkpoint database (table
`stepladder_serve_threads`, beside LangGraph's tables and the pending reviews), so that
`GET /runs/{thread}` still answers after a restart, from the checkpoint itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from stepladder.flows import Flow
from stepladder.flows.reviews import load_reviews, open_table
from stepladder.flows.run import INTERRUPT
from stepladder.serve.runs import RunRecord, Status

__all__ = ["flow_of_thread", "read_checkpointed", "remember_thread"]

_TABLE = "stepladder_serve_threads"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    thread_id TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


def remember_thread(db: Path, thread_id: str, flow: str) -> None:
    """Note that `thread_id` runs `flow` (kept when the thread was noted before)."""
    now = datetime.now(UTC).isoformat()
    with open_table(db, _SCHEMA) as connection:
        connection.execute(
            f"INSERT OR IGNORE INTO {_TABLE} VALUES (?, ?, ?)", (thread_id, flow, now)
        )


def flow_of_thread(db: Path, thread_id: str) -> tuple[str, str] | None:
    """The flow a thread runs and when it started, if the service (or a review) knows it."""
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


async def read_checkpointed(
    flow: Flow, db: Path, thread_id: str, created_at: str = ""
) -> RunRecord | None:
    """The run on `thread_id` as its last checkpoint has it (None: no such thread)."""
    if not db.is_file():
        return None
    async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
        app = flow.compile(checkpointer=saver)
        snapshot = await app.aget_state({"configurable": {"thread_id": thread_id}})
    if not snapshot.values and not snapshot.next:
        return None
    reviews = tuple(load_reviews(db, thread_id))
    status: Status = "unfinished" if snapshot.next else "finished"
    if reviews or snapshot.interrupts:
        status = "paused"
    state = {k: v for k, v in dict(snapshot.values).items() if k != INTERRUPT}
    return RunRecord(
        run_id=thread_id,
        flow=flow.name,
        status=status,
        thread_id=thread_id,
        created_at=created_at or str(snapshot.created_at or ""),
        state=state,
        reviews=reviews,
    )
