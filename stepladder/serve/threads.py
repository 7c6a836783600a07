"""A checkpointed run, read back from its thread.

So `GET /runs/{thread}` answers after a restart, and for runs of `stepladder run --thread`
(the flow a thread belongs to is recorded by `stepladder.flows.threads` when its first run
starts).
"""

from __future__ import annotations

from pathlib import Path

from stepladder.flows import Flow
from stepladder.flows.checkpoints import open_checkpointer
from stepladder.flows.map_node import public
from stepladder.flows.reviews import load_reviews
from stepladder.flows.run import INTERRUPT
from stepladder.serve.runs import RunRecord, Status

__all__ = ["read_checkpointed"]


async def read_checkpointed(
    flow: Flow, db: Path, thread_id: str, created_at: str = "", *, postgres: str | None = None
) -> RunRecord | None:
    """The run on `thread_id` as its last checkpoint has it (None: no such thread).

    The checkpoint is read from Postgres when `postgres` is set, else from `db`.
    """
    if postgres is None and not db.is_file():
        return None
    async with open_checkpointer(db, postgres) as saver:
        app = flow.compile(checkpointer=saver)
        snapshot = await app.aget_state({"configurable": {"thread_id": thread_id}})
    if not snapshot.values and not snapshot.next:
        return None
    reviews = tuple(load_reviews(db, thread_id, postgres=postgres))
    status: Status = "unfinished" if snapshot.next else "finished"
    if reviews or snapshot.interrupts:
        status = "paused"
    state = {k: v for k, v in public(snapshot.values).items() if k != INTERRUPT}
    return RunRecord(
        run_id=thread_id,
        flow=flow.name,
        status=status,
        thread_id=thread_id,
        created_at=created_at or str(snapshot.created_at or ""),
        state=state,
        reviews=reviews,
    )
