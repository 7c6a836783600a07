"""Where a project's eval runs are kept: run folders (the default) or Postgres (`state.postgres`).

`eval_run_store` picks the store from the project's settings; running, resuming, comparing,
reporting, drift and the studio read and write runs through the `EvalRunStore` it returns.
Reports (`report.html`) are files either way: in the run's folder, or with Postgres under
`.stepladder/eval-reports/RUN_ID/` (nothing is written to the runs folder).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stepladder.config import Project
from stepladder.errors import UserError
from stepladder.evalsets.results import (
    MANIFEST_FILE,
    RESULTS_FILE,
    CaseResult,
    EvalManifest,
    EvalRunRecord,
    ResultLog,
    load_run,
)

__all__ = [
    "REPORTS_DIR",
    "RUN_ID_PATTERN",
    "EvalRunFiles",
    "EvalRunStore",
    "ResultSink",
    "eval_run_store",
    "evals_dir",
    "run_folder",
]

# `stepladder eval` names runs `YYYYMMDD-HHMMSS-xxxx`; any plain folder name is accepted.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
REPORTS_DIR = "eval-reports"
"""Where run reports go when the runs are in Postgres (under the state folder)."""
RECENT = 5


class ResultSink(Protocol):
    """A run's results, open while the run lasts: each case's result is kept as it finishes."""

    def append(self, result: CaseResult) -> None:
        """Keep one case's result (durably, before returning)."""
        ...

    def close(self) -> None:
        """Let go of the file or connection."""
        ...

    def __enter__(self) -> ResultSink: ...

    def __exit__(self, *exc_info: object) -> None: ...


class EvalRunStore(Protocol):
    """A project's eval runs: their manifests and their cases' results."""

    @property
    def where(self) -> str:
        """Where the runs are, for messages."""
        ...

    def run_ids(self) -> list[str]:
        """Every run's id, newest first (by when its manifest was last written)."""
        ...

    def has_run(self, run_id: str) -> bool:
        """Whether `run_id` names a run here."""
        ...

    def manifest(self, run_id: str) -> EvalManifest | None:
        """The run's manifest (None when there is no such run or it cannot be read)."""
        ...

    def load(self, run_id: str) -> EvalRunRecord:
        """The run with every case's result (its `folder`: where its report goes).

        Raises:
            UserError: If there is no such run.
        """
        ...

    def save_manifest(self, manifest: EvalManifest) -> None:
        """Create the run, or rewrite its manifest."""
        ...

    def results(self, run_id: str) -> ResultSink:
        """The run's results, to append to (the run's manifest is saved first)."""
        ...

    def stamp(self, run_id: str) -> tuple[int, ...]:
        """A value that changes whenever the run is written (readers cache on it).

        Its third item grows with the last result's write (a time, or a sequence number).
        """
        ...

    def report_folder(self, run_id: str) -> Path:
        """Where the run's report files go (`EvalRunRecord.folder`)."""
        ...


@dataclass(frozen=True)
class EvalRunFiles:
    """Runs as folders of `root` (`.stepladder/evals/RUN_ID/`: manifest and results files)."""

    root: Path

    @property
    def where(self) -> str:
        """The runs folder."""
        return str(self.root)

    def run_ids(self) -> list[str]:
        """Run folders with a manifest, newest manifest first."""
        if not self.root.is_dir():
            return []
        runs = [p for p in self.root.iterdir() if (p / MANIFEST_FILE).is_file()]
        runs.sort(key=lambda p: ((p / MANIFEST_FILE).stat().st_mtime, p.name), reverse=True)
        return [p.name for p in runs]

    def has_run(self, run_id: str) -> bool:
        """Whether `root/run_id` holds a manifest (plain names only)."""
        plain = bool(RUN_ID_PATTERN.fullmatch(run_id)) and ".." not in run_id
        return plain and (self.root / run_id / MANIFEST_FILE).is_file()

    def manifest(self, run_id: str) -> EvalManifest | None:
        """The run's manifest file, read."""
        try:
            text = (self.root / run_id / MANIFEST_FILE).read_text(encoding="utf-8")
            return EvalManifest.model_validate_json(text)
        except (OSError, ValueError):
            return None

    def load(self, run_id: str) -> EvalRunRecord:
        """The run folder, read (`load_run`)."""
        return load_run(run_folder(self.root, run_id, "run"))

    def save_manifest(self, manifest: EvalManifest) -> None:
        """Write `manifest.json` (the folder is made)."""
        folder = self.root / manifest.run_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")

    def results(self, run_id: str) -> ResultSink:
        """The run's `results.jsonl`, open to append."""
        return ResultLog(self.root / run_id)

    def report_folder(self, run_id: str) -> Path:
        """The run's own folder."""
        return self.root / run_id

    def stamp(self, run_id: str) -> tuple[int, ...]:
        """When and how much the run's files were written."""
        stamp: list[int] = []
        for name in (MANIFEST_FILE, RESULTS_FILE):
            try:
                stat = (self.root / run_id / name).stat()
            except OSError:
                stamp += [0, 0]
            else:
                stamp += [stat.st_mtime_ns, stat.st_size]
        return tuple(stamp)


def evals_dir(project: Project) -> Path:
    """Where a project's eval run folders live (`.stepladder/evals`)."""
    return project.state_dir / "evals"


def eval_run_store(project: Project) -> EvalRunStore:
    """The project's eval runs: in Postgres with `state.postgres`, else its run folders."""
    url = project.settings.state.postgres
    if url:
        from stepladder.evalsets.postgres_runs import PostgresEvalRuns  # lazy: optional extra

        return PostgresEvalRuns(url, project.state_dir / REPORTS_DIR)
    return EvalRunFiles(evals_dir(project))


def check_run_id(runs: EvalRunStore, run_id: str, option: str = "--resume") -> None:
    """Refuse a run id that is not a plain id, or names no run of `runs`.

    Raises:
        UserError: Saying which runs there are.
    """
    shown = _plain_id(run_id, option, "", lambda: recent_runs(runs))
    if isinstance(runs, EvalRunFiles):
        run_folder(runs.root, run_id, option)
    elif not runs.has_run(run_id):
        raise UserError(f"{option} {shown}: no such eval run in {runs.where}. {recent_runs(runs)}")


def _plain_id(run_id: str, option: str, where: str, recent: Callable[[], str]) -> str:
    """`run_id` as shown in messages, once it is checked to be a plain run id (not a path).

    Raises:
        UserError: Naming the form of a run id, where runs are (`where`) and the recent ones.
    """
    shown = run_id.encode("utf-8", "backslashreplace").decode("utf-8")
    if not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        raise UserError(
            f"{option} {shown}: not a run id. Give the id of an eval run ({where}such as "
            f"20260101-120000-ab12, as `stepladder eval` prints it); paths are not accepted. "
            f"{recent()}"
        )
    return shown


def run_folder(evals: Path, run_id: str, option: str = "--resume") -> Path:
    """The folder of run `run_id` under `evals`.

    Raises:
        UserError: If `run_id` is not a plain run id (a path, `..`), resolves outside `evals`
            (a symbolic link), or names no run.
    """
    shown = _plain_id(run_id, option, f"a folder name under {evals}, ", lambda: _recent(evals))
    folder = evals / run_id
    root = evals.resolve()
    if folder.exists() and not folder.resolve().is_relative_to(root):
        raise UserError(
            f"{option} {shown}: that run folder leads outside {evals} (a symbolic link). "
            "Resume a run stepladder wrote there."
        )
    if not (folder / MANIFEST_FILE).is_file():
        raise UserError(f"{option} {shown}: no such eval run. {_recent(evals)}")
    return folder


def recent_runs(runs: EvalRunStore) -> str:
    """`Recent runs: ...` (the newest few ids, or none)."""
    return f"Recent runs: {', '.join(runs.run_ids()[:RECENT]) or 'none'}."


def _recent(evals: Path) -> str:
    found = sorted((p.name for p in evals.glob("*/") if p.is_dir()), reverse=True)
    return f"Recent runs: {', '.join(found[:RECENT]) or 'none'}."
