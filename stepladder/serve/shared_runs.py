"""`GET /runs/{id}` on any replica: a run read from the Postgres registry and its thread.

A run without a thread is answered from its registry row (a `running` one whose replica is
gone as `failed`, `replica_lost`). A run on a thread is read back from its checkpoint, the
truth whichever replica last ran it: `running` while some process holds the thread's lock,
else `paused`, `finished` or `unfinished` (a replica stopped mid-run: run the thread again
to continue it); its row adds the duration, usage, trace and error of the replica's run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from stepladder.flows import Flow
from stepladder.serve.postgres_history import load_run, replica_alive
from stepladder.serve.runs import RunRecord
from stepladder.serve.threads import read_checkpointed
from stepladder.state.postgres import flow_of_thread, thread_running

__all__ = ["find_shared_run"]


async def find_shared_run(
    flows: Mapping[str, Flow], db: Path, url: str, run_id: str
) -> RunRecord | None:
    """The run `run_id` as the shared state has it (None: unknown)."""
    kept = await asyncio.to_thread(load_run, url, run_id)
    if kept is not None and kept.record.thread_id is None:
        record = kept.record
        if record.status == "running" and not await asyncio.to_thread(
            replica_alive, url, kept.replica
        ):
            return _lost(record, kept.replica)
        return record
    checkpointed = await _read_thread(flows, db, url, run_id)
    if checkpointed is None:
        return kept.record if kept is not None else None
    if checkpointed.status == "unfinished" and await asyncio.to_thread(thread_running, url, run_id):
        checkpointed = replace(checkpointed, status="running")
    if kept is None:
        return checkpointed
    row = kept.record
    if row.status == "failed" and checkpointed.status == "unfinished":
        return replace(row, state=checkpointed.state)
    if row.status != checkpointed.status:
        return checkpointed
    return replace(
        checkpointed,
        created_at=row.created_at,
        duration_s=row.duration_s,
        usage=row.usage,
        trace_id=row.trace_id,
    )


async def _read_thread(
    flows: Mapping[str, Flow], db: Path, url: str, thread_id: str
) -> RunRecord | None:
    known = await asyncio.to_thread(flow_of_thread, url, thread_id)
    if known is None or known[0] not in flows:
        return None
    return await read_checkpointed(flows[known[0]], db, thread_id, known[1], postgres=url)


def _lost(record: RunRecord, replica: str) -> RunRecord:
    detail = (
        f"the replica that ran it ({replica}) stopped before the run ended, and a run without "
        "a thread cannot be continued; run it again."
    )
    return replace(record, status="failed", error={"error": "replica_lost", "detail": detail})
