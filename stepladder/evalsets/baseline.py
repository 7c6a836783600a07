"""Baselines: an eval run kept in the project (committed) so CI can compare against it.

`evalsets/baselines/<eval_name>/` holds a copy of one run's `manifest.json` and
`results.jsonl`. `resolve_run` turns what a user types (a run id, a folder, `baseline`,
`baseline:<eval_name>`) into the run it names.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from stepladder.errors import UserError
from stepladder.evalsets.results import (
    MANIFEST_FILE,
    RESULTS_FILE,
    EvalManifest,
    EvalRunRecord,
    load_run,
)
from stepladder.evalsets.run_store import EvalRunFiles, EvalRunStore
from stepladder.files import write_text_atomic

__all__ = [
    "BASELINES_DIR",
    "baseline_folder",
    "baseline_manifest",
    "list_baselines",
    "resolve_run",
    "save_baseline",
]

logger = logging.getLogger(__name__)

BASELINES_DIR = Path("evalsets") / "baselines"
"""Where baselines live, relative to the project root."""

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
RECENT_RUNS = 10


def baseline_folder(project_root: Path, eval_name: str) -> Path:
    """The folder of the baseline of `eval_name`.

    Raises:
        UserError: If the eval name cannot be a folder name.
    """
    if not SAFE_NAME.match(eval_name) or ".." in eval_name:
        raise UserError(
            f"eval name {eval_name!r} cannot name a baseline folder: use letters, digits, "
            "'.', '_' and '-'."
        )
    return project_root / BASELINES_DIR / eval_name


def save_baseline(run: EvalRunRecord, project_root: Path) -> Path:
    """Copy the run's manifest and results into `evalsets/baselines/<eval_name>/`.

    An older baseline of the same eval is replaced (and logged at INFO with its run id; call
    `baseline_manifest` first to tell the user which run it replaces).

    Returns:
        The baseline's folder.
    """
    folder = baseline_folder(project_root, run.manifest.eval_name)
    previous = _manifest_or_none(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(result.model_dump_json() + "\n" for result in run.results)
    write_text_atomic(folder / RESULTS_FILE, lines)
    write_text_atomic(folder / MANIFEST_FILE, run.manifest.model_dump_json(indent=2) + "\n")
    if previous is not None and previous.run_id != run.manifest.run_id:
        logger.info(
            "replaced the baseline of %s (run %s) with run %s",
            run.manifest.eval_name,
            previous.run_id,
            run.manifest.run_id,
        )
    else:
        logger.info("saved run %s as the baseline of %s", run.manifest.run_id, folder.name)
    return folder


def baseline_manifest(project_root: Path, eval_name: str) -> EvalManifest | None:
    """The manifest of the current baseline of `eval_name`, or None when it has none."""
    return _manifest_or_none(baseline_folder(project_root, eval_name))


def _manifest_or_none(folder: Path) -> EvalManifest | None:
    manifest = folder / MANIFEST_FILE
    if not manifest.is_file():
        return None
    try:
        return EvalManifest.model_validate_json(manifest.read_text(encoding="utf-8"))
    except ValueError:
        return None


def list_baselines(project_root: Path) -> list[str]:
    """The evals that have a baseline, sorted by name."""
    root = project_root / BASELINES_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST_FILE).is_file())


def resolve_run(
    ref: str,
    *,
    project_root: Path,
    evals_dir: Path | None = None,
    runs: EvalRunStore | None = None,
) -> EvalRunRecord:
    """The run named by `ref`.

    Args:
        ref: `baseline` (the only baseline), `baseline:<eval_name>`, a run id (or a unique
            start of one) of the project's runs, or the path of a run folder.
        project_root: The project, whose `evalsets/baselines/` holds the baselines.
        evals_dir: Where run folders are kept (`.stepladder/evals`), when `runs` is not given.
        runs: The project's eval runs (`eval_run_store`: folders, or Postgres).

    Raises:
        UserError: If `ref` names no run; the message lists the valid choices.
    """
    if ref == "baseline" or ref.startswith("baseline:"):
        return _resolve_baseline(ref.partition(":")[2], project_root)
    if runs is None:
        if evals_dir is None:
            raise TypeError("resolve_run needs evals_dir or runs")
        runs = EvalRunFiles(evals_dir)
    if ref and "/" not in ref and ref not in (".", "..") and runs.has_run(ref):
        return runs.load(ref)
    matches = [run_id for run_id in runs.run_ids() if run_id.startswith(ref)]
    if len(matches) == 1 and ref:
        return runs.load(matches[0])
    if len(matches) > 1 and ref:
        raise UserError(
            f"{ref!r} is the start of several run ids: {', '.join(sorted(matches))}; "
            "give more of it."
        )
    path = Path(ref).expanduser()
    if path.is_dir():
        return load_run(path)
    raise UserError(_not_found(ref, runs, project_root))


def _resolve_baseline(eval_name: str, project_root: Path) -> EvalRunRecord:
    names = list_baselines(project_root)
    where = project_root / BASELINES_DIR
    if eval_name:
        if eval_name in names:
            return load_run(where / eval_name)
        choices = ", ".join(f"baseline:{name}" for name in names) or "none saved yet"
        raise UserError(f"no baseline for eval {eval_name!r} in {where}; baselines: {choices}.")
    if len(names) == 1:
        return load_run(where / names[0])
    if not names:
        raise UserError(
            f"no baseline saved in {where}: save a run as the baseline first, "
            "or name a run id or folder."
        )
    choices = ", ".join(f"baseline:{name}" for name in names)
    raise UserError(f"several evals have a baseline; say which: {choices}.")


def _not_found(ref: str, runs: EvalRunStore, project_root: Path) -> str:
    recent = runs.run_ids()[:RECENT_RUNS]
    choices = [*recent, *(f"baseline:{name}" for name in list_baselines(project_root))]
    if list_baselines(project_root):
        choices.insert(len(recent), "baseline")
    listed = ", ".join(choices) if choices else f"none: no runs in {runs.where} and no baselines"
    return (
        f"{ref!r} names no eval run: not a run id in {runs.where}, not a baseline and not a run "
        f"folder. Valid choices (recent runs first): {listed}."
    )
