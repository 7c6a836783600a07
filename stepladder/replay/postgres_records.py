"""Records in Postgres (`state.postgres`): one row per recorded run, in `stepladder_records`.

Each row keeps the record's JSON text as a record file holds it (secrets masked), written by
one statement in one transaction, so a record is complete or absent and every process on the
database, on any machine, replays the runs any of them recorded. A run recorded again (a
resumed eval) replaces its row. The table is created by the state store's migrations
(`stepladder.state.postgres`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from stepladder.config.state import masked_url
from stepladder.replay.record import VERSION, Record, parse_record, record_text

__all__ = ["PostgresRecords"]

T = TypeVar("T")

_SAVE = (
    "INSERT INTO stepladder_records (run_id, flow, created, version, record) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (run_id) DO UPDATE SET flow = EXCLUDED.flow, "
    "created = EXCLUDED.created, version = EXCLUDED.version, record = EXCLUDED.record, "
    "written = DEFAULT"
)


class PostgresRecords:
    """The records of every process on one Postgres database.

    Args:
        url: The state store's URL.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def where(self) -> str:
        """The database, its password masked."""
        return f"the Postgres state store at {masked_url(self.url)}"

    def save(self, record: Record, secret_variables: tuple[str, ...] = ()) -> Path | None:
        """Keep the record's row (one statement, one transaction); no file is written."""
        row = (record.run_id, record.flow, record.created, VERSION,
               record_text(record, secret_variables))  # fmt: skip
        self._in_state(lambda connection: connection.execute(_SAVE, row), "saving a record")
        return None

    def load(self, run_id: str) -> Record | None:
        """The run's record, read from its row (None when there is no row).

        Raises:
            RecordError: If its format version is not one this code reads.
        """
        rows = self._in_state(
            lambda connection: connection.execute(
                "SELECT record FROM stepladder_records WHERE run_id = %s", (run_id,)
            ).fetchall(),
            "reading a record",
        )
        if not rows:
            return None
        return parse_record(str(rows[0][0]), f"record '{run_id}' in {self.where}", run_id)

    def run_ids(self) -> list[str]:
        """The recorded runs' ids, in the order they were written."""
        rows = self._in_state(
            lambda connection: connection.execute(
                "SELECT run_id FROM stepladder_records ORDER BY written"
            ).fetchall(),
            "listing records",
        )
        return [str(row[0]) for row in rows]

    def _in_state(self, work: Callable[[Any], T], what: str) -> T:
        from stepladder.state.transactions import in_state  # lazy: optional extra

        return in_state(self.url, work, what)
