"""Runs without a checkpoint thread, kept in the project's database after they end.

Such a run has no checkpoint to read back, so the service writes its record (the JSON that
`GET /runs/{id}` answers) to the table `stepladder_runs` of the checkpoint database when it
ends, and reads it from there when it is no longer in memory (after a restart). The latest
`keep` runs are kept; older rows are deleted as new ones come. The service writes the records of
runs that end together in one transaction (`save_runs`, through `GroupCommit`). With
`state.postgres` set, the registry is in Postgres instead (`postgres_history`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stepladder.flows.reviews import open_table
from stepladder.serve.runs import RunRecord

__all__ = ["load_run", "record_of", "save_run", "save_runs"]

_TABLE = "stepladder_runs"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    flow TEXT NOT NULL,
    record TEXT NOT NULL
)
"""


def save_run(db: Path, record: RunRecord, keep: int) -> None:
    """Keep `record` (replacing an older record of the same id), and only the latest `keep`."""
    save_runs(db, [record], keep)


def save_runs(db: Path, records: Sequence[RunRecord], keep: int) -> None:
    """Keep `records` in one transaction (each replacing an older record of its id).

    Only the latest `keep` records stay; of two records of one id, the later.
    """
    latest = {record.run_id: record for record in records}
    # ASCII JSON: any text, lone surrogates included, survives
    rows = [(run_id, r.flow, json.dumps(r.view())) for run_id, r in latest.items()]
    with open_table(db, _SCHEMA) as connection:
        connection.executemany(f"DELETE FROM {_TABLE} WHERE run_id = ?", [row[:1] for row in rows])
        connection.executemany(
            f"INSERT INTO {_TABLE} (run_id, flow, record) VALUES (?, ?, ?)", rows
        )
        connection.execute(
            f"DELETE FROM {_TABLE} WHERE seq <= (SELECT MAX(seq) FROM {_TABLE}) - ?", (keep,)
        )


def load_run(db: Path, run_id: str) -> RunRecord | None:
    """The record of a run that ended, if it is kept."""
    if not db.is_file():
        return None
    with open_table(db, _SCHEMA) as connection:
        row = connection.execute(
            f"SELECT record FROM {_TABLE} WHERE run_id = ?", (run_id,)
        ).fetchone()
    return None if row is None else record_of(json.loads(row[0]))


def record_of(view: dict[str, Any]) -> RunRecord:
    """A run record read back from its JSON view (`RunRecord.view`)."""
    return RunRecord(
        run_id=view["run_id"],
        flow=view["flow"],
        status=view["status"],
        thread_id=view.get("thread_id"),
        created_at=view["created_at"],
        duration_s=view.get("duration_s"),
        state=view.get("state") or {},
        usage=view.get("usage") or {},
        trace_id=view.get("trace_id"),
        error=view.get("error"),
    )
