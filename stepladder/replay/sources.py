"""Finding a project's records, and the session `run` and `eval` use.

`--replay` takes a run id (its record where the project keeps runs: `.stepladder/records/`, or
the Postgres state store with `state.postgres`; see `stepladder.replay.stores`) or the path of
a record file (a recording kept with the project's tests, say). `find_record` and
`save_run_record` are the only places that choose where records are.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

from stepladder.config import Project
from stepladder.errors import RecordError
from stepladder.files import write_text_atomic
from stepladder.replay.record import Record, load_record
from stepladder.replay.session import ReplaySession
from stepladder.replay.stores import record_store

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
    """The record `reference` names: a run id of the project's record store, or a record file.

    Raises:
        RecordError: If neither exists (naming the runs recorded), or the record is not one
            this version reads.
    """
    store = record_store(project)
    given = Path(reference)
    plain = len(given.parts) == 1 and not given.is_absolute() and ".." not in given.parts
    found = store.load(str(reference)) if plain else None
    if found is not None:
        return found
    if given.suffix == ".json" or given.is_absolute() or len(given.parts) > 1:
        for path in (given, project.root / given):
            if path.is_file():
                return load_record(path)
    shown = ", ".join(store.run_ids()[-5:]) or "none yet (eval runs record by default)"
    raise RecordError(
        f"no record '{reference}': give a run id recorded in {store.where} (latest: "
        f"{shown}) or the path of a record file."
    )


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
    """Keep the session's calls as run `run_id`'s record, where the project keeps records.

    A resumed eval run keeps the calls of its earlier cases from the record it had.

    Returns:
        The record's file (None when not recording, or when the record is in Postgres).
    """
    if not session.record:
        return None
    store = record_store(project)
    try:
        keep = store.load(run_id)
    except RecordError:
        keep = None
    session.finish(run_id, flow, store, secret_variables(project), keep)
    return session.saved


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
