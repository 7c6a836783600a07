"""The service's runs registry in Postgres, shared by every replica (`state.postgres`).

Each run gets a row in `stepladder_runs` (schema version 2 of `stepladder_schema`) when it
starts (`running`, with the replica that runs it: its `application_name` in Postgres) and
again when it ends, so `GET /runs/{id}` answers on any replica, for a run in flight too. A
row is keyed by the run id (a thread's runs share one row, the latest), so a run is never
listed twice. The writes of runs that start or end together go in one transaction
(`GroupCommit`); a write whose connection drops is tried again (`stepladder.state.retry`).

A `running` row whose replica has no connection to the database any more (killed, or its
machine gone) is answered as `failed` (`replica_lost`) when the run has no thread; a run on
a thread is read back from its checkpoint instead (`unfinished`: run it again to continue).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from stepladder.serve.history import record_of
from stepladder.serve.runs import RunRecord
from stepladder.state.postgres import open_state, replica_name
from stepladder.state.retry import retried

__all__ = ["KeptRun", "load_run", "replica_alive", "save_runs"]

_UPSERT = """
INSERT INTO stepladder_runs (run_id, flow, status, thread_id, replica, created_at, record)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (run_id) DO UPDATE SET
    flow = EXCLUDED.flow, status = EXCLUDED.status, thread_id = EXCLUDED.thread_id,
    replica = EXCLUDED.replica, created_at = EXCLUDED.created_at, record = EXCLUDED.record
"""


@dataclass(frozen=True)
class KeptRun:
    """A run's row: its record and the replica that wrote it."""

    record: RunRecord
    replica: str


@retried("saving run records")
def save_runs(url: str, records: Sequence[RunRecord], keep: int) -> None:
    """Write `records` in one transaction (of two records of one id, the later).

    Only the latest `keep` runs stay (by when they were first written); running ones stay.
    """
    latest = {record.run_id: record for record in records}
    replica = replica_name()
    rows = [
        (r.run_id, r.flow, r.status, r.thread_id, replica, r.created_at, json.dumps(r.view()))
        for r in latest.values()
    ]
    with open_state(url) as connection:
        with connection.cursor() as cursor:
            cursor.executemany(_UPSERT, rows)
        connection.execute(
            "DELETE FROM stepladder_runs WHERE status <> 'running' "
            "AND seq <= (SELECT max(seq) FROM stepladder_runs) - %s",
            (keep,),
        )


@retried("reading a run record")
def load_run(url: str, run_id: str) -> KeptRun | None:
    """The row of run `run_id`, if kept."""
    with open_state(url) as connection:
        row = connection.execute(
            "SELECT record, replica FROM stepladder_runs WHERE run_id = %s", (run_id,)
        ).fetchone()
    if row is None:
        return None
    return KeptRun(record_of(json.loads(row[0])), str(row[1]))


@retried("checking a replica")
def replica_alive(url: str, replica: str) -> bool:
    """Whether the replica named `replica` is connected to the database now."""
    with open_state(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (replica,)
        ).fetchone()
    return bool(row and row[0])
