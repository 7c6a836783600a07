"""Where a project's records are kept: record files (the default) or Postgres (`state.postgres`).

Records go where runs go. `record_store` picks the store from the project's settings; saving a
run's record and finding the record to replay (`stepladder.replay.sources`) go through the
`RecordStore` it returns, never through a folder of their own choosing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stepladder.config import Project
from stepladder.replay.record import RECORDS_DIR, Record, load_record, save_record

__all__ = ["RecordFiles", "RecordStore", "record_store"]


class RecordStore(Protocol):
    """A project's records, one per recorded run, each written at once."""

    @property
    def where(self) -> str:
        """Where the records are, for messages."""
        ...

    def save(self, record: Record, secret_variables: tuple[str, ...] = ()) -> Path | None:
        """Keep `record` as its run's record, complete or not at all, secrets masked.

        Returns:
            The record's file, when the store keeps files.
        """
        ...

    def load(self, run_id: str) -> Record | None:
        """The record of run `run_id` (None when there is none).

        Raises:
            RecordError: If it cannot be read, or its format version is unknown.
        """
        ...

    def run_ids(self) -> list[str]:
        """The ids of the recorded runs, oldest first."""
        ...


@dataclass(frozen=True)
class RecordFiles:
    """Records as JSON files of a folder (`.stepladder/records/RUN_ID.json`)."""

    folder: Path

    @property
    def where(self) -> str:
        """The folder."""
        return str(self.folder)

    def path(self, run_id: str) -> Path:
        """The file of run `run_id`'s record."""
        return self.folder / f"{run_id}.json"

    def save(self, record: Record, secret_variables: tuple[str, ...] = ()) -> Path:
        """Write the record's file through a temporary file renamed into place."""
        return save_record(record, self.path(record.run_id), secret_variables)

    def load(self, run_id: str) -> Record | None:
        """The run's record file, read (None when there is no such file)."""
        path = self.path(run_id)
        return load_record(path) if path.is_file() else None

    def run_ids(self) -> list[str]:
        """The record files' run ids, sorted (run ids start with their time)."""
        return sorted(p.stem for p in self.folder.glob("*.json")) if self.folder.is_dir() else []


def record_store(project: Project) -> RecordStore:
    """The project's records: in Postgres with `state.postgres`, else its records folder."""
    url = project.settings.state.postgres
    if url:
        from stepladder.replay.postgres_records import PostgresRecords  # lazy: optional extra

        return PostgresRecords(url)
    return RecordFiles(project.state_dir / RECORDS_DIR)
