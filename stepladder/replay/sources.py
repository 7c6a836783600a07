"""Finding a project's records, and the session `run` and `eval` use.

`--replay` takes a run id (its record under `.stepladder/records/`) or the path of a record
file (a recording kept with the project's tests, say).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

from stepladder.config import Project
from stepladder.errors import RecordError
from stepladder.files import write_text_atomic
from stepladder.replay.record import RECORDS_DIR, Record, load_record, record_path
from stepladder.replay.session import ReplaySession

__all__ = [
    "REPLAY_FILE",
    "find_record",
    "finish_replayed_eval",
    "new_run_id",
    "replay_session",
    "save_run_record",
    "secret_variables",
]

REPLAY_FILE = "replay.json"
"""An eval run's replay counts, in its folder (`.stepladder/evals/RUN_ID/replay.json`)."""


def find_record(project: Project, reference: str | Path) -> Record:
    """The record `reference` names: a run id of the project, or a record file.

    Raises:
        RecordError: If neither exists (naming the runs recorded), or the file is not a
            record this version reads.
    """
    given = Path(reference)
    candidates = [record_path(project.state_dir, str(reference))]
    if given.suffix == ".json" or given.is_absolute() or len(given.parts) > 1:
        candidates += [given, project.root / given]
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        folder = project.state_dir / RECORDS_DIR
        known = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        shown = ", ".join(known[-5:]) or "none yet (eval runs record by default)"
        raise RecordError(
            f"no record '{reference}': give a run id recorded under {folder} (latest: "
            f"{shown}) or the path of a record file."
        )
    return load_record(found)


def replay_session(
    project: Project,
    *,
    record: bool = True,
    replay: str | Path | None = None,
    hermetic: bool = False,
) -> ReplaySession:
    """The session of a run or eval: recording or not, replaying `replay` or not.

    Raises:
        RecordError: If `replay` names no readable record.
        UserError: If `hermetic` is asked without `replay`.
    """
    source = find_record(project, replay) if replay is not None else None
    return ReplaySession(record=record, source=source, hermetic=hermetic)


def secret_variables(project: Project) -> tuple[str, ...]:
    """The environment variables the project's tiers read keys from (masked in records)."""
    names = (getattr(tier, "api_key_env", None) for tier in project.settings.tiers.values())
    return tuple(name for name in names if name)


def save_run_record(
    session: ReplaySession, project: Project, run_id: str, flow: str
) -> Path | None:
    """Write the session's calls as run `run_id`'s record (None when not recording).

    A resumed eval run keeps the calls of its earlier cases from the record it had.
    """
    path = record_path(project.state_dir, run_id)
    keep = None
    if path.is_file():
        try:
            keep = load_record(path)
        except RecordError:
            keep = None
    return session.finish(run_id, flow, path, secret_variables(project), keep)


def finish_replayed_eval(
    session: ReplaySession, project: Project, run_id: str, flow: str, folder: Path
) -> None:
    """Keep an eval run's record, and its replay counts as `replay.json` in its folder."""
    save_run_record(session, project, run_id, flow)
    if session.replaying:
        text = json.dumps(session.summary(), indent=2)
        write_text_atomic(folder / REPLAY_FILE, text + "\n")


def new_run_id() -> str:
    """A run id for a recorded `run` (eval runs have their own)."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
