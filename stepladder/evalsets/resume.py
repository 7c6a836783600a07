"""Resuming a killed eval run: by run id only, with the options the run was started with.

A resumed run keeps its manifest's split, limit, tier, cache and compiled-prompt choice, so it
covers the same cases as the run it finishes. Giving one of those options again with another
value is an error (a different selection is a new run); the same value, or `--concurrency`
(which changes no result), is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepladder.errors import UserError
from stepladder.evalsets.results import MANIFEST_FILE, EvalManifest, load_run

__all__ = ["RUN_ID_PATTERN", "ResumedRun", "resumed_options", "resumed_run", "run_folder"]

# `stepladder eval` names runs `YYYYMMDD-HHMMSS-xxxx`; any plain folder name is accepted.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class ResumedRun:
    """A run being resumed: its manifest (`finished` cleared) and the cases it has done."""

    manifest: EvalManifest
    done: frozenset[str]


def run_folder(evals: Path, run_id: str, option: str = "--resume") -> Path:
    """The folder of run `run_id` under `evals`.

    Raises:
        UserError: If `run_id` is not a plain run id (a path, `..`), resolves outside `evals`
            (a symbolic link), or names no run.
    """
    shown = run_id.encode("utf-8", "backslashreplace").decode("utf-8")
    if not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        raise UserError(
            f"{option} {shown}: not a run id. Give the id of an eval run (a folder name under "
            f"{evals}, such as 20260101-120000-ab12, as `stepladder eval` prints it); paths "
            f"are not accepted. {_recent(evals)}"
        )
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


def resumed_run(evals: Path, eval_name: str, run_id: str) -> ResumedRun:
    """Read back run `run_id` of eval `eval_name` to finish it.

    Raises:
        UserError: If the id is not a run of this eval under `evals`.
    """
    record = load_run(run_folder(evals, run_id))
    if record.manifest.eval_name != eval_name:
        raise UserError(
            f"--resume {run_id}: that run is of eval '{record.manifest.eval_name}', "
            f"not '{eval_name}'. Give the spec that run used ({record.manifest.spec_path})."
        )
    manifest = record.manifest.model_copy(update={"finished": None})
    return ResumedRun(manifest, frozenset(r.case_id for r in record.results))


def resumed_options(given: Mapping[str, Any], manifest: EvalManifest) -> dict[str, Any]:
    """The run's own split, limit, tier, cache, compiled choice and adapters, checked.

    Args:
        given: The options given now, by name (None: not given).
        manifest: The resumed run's manifest.

    Raises:
        UserError: If `given` sets one of them to a value other than the run's.
    """
    compiled = manifest.use_compiled
    kept = {
        "split": manifest.split,
        "limit": manifest.limit,
        "tier": manifest.tier,
        "cache": manifest.cache,
        "compiled": manifest.compiled_prompts is not None if compiled is None else compiled,
        "adapters": manifest.adapters,
    }
    conflicts = [
        f"{_flag(name, given[name])} (the run has {_flag(name, kept[name])})"
        for name in kept
        if given.get(name) is not None and given[name] != kept[name]
    ]
    if conflicts:
        raise UserError(
            f"--resume {manifest.run_id}: a resumed run keeps the options it was started with, "
            f"so it covers the same cases; these differ: {'; '.join(conflicts)}. Drop them to "
            "finish the run, or start a new run (without --resume) to use them."
        )
    return kept


def _flag(name: str, value: object) -> str:
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no-{name}"
    if isinstance(value, dict):
        return " ".join(f"--adapter {node}={name}" for node, name in value.items())
    return f"no --{name}" if value is None else f"--{name} {value}"


def _recent(evals: Path) -> str:
    runs = sorted((p.name for p in evals.glob("*/") if p.is_dir()), reverse=True)
    return f"Recent runs: {', '.join(runs[:5]) or 'none'}."
