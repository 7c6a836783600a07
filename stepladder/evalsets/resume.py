"""Resuming a killed eval run: by run id only, with the options the run was started with.

A resumed run keeps its manifest's split, limit, tier, cache and compiled-prompt choice, so it
covers the same cases as the run it finishes. Giving one of those options again with another
value is an error (a different selection is a new run); the same value, or `--concurrency`
(which changes no result), is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stepladder.errors import UserError
from stepladder.evalsets.results import EvalManifest
from stepladder.evalsets.run_store import RUN_ID_PATTERN, EvalRunStore, check_run_id, run_folder

__all__ = ["RUN_ID_PATTERN", "ResumedRun", "resumed_options", "resumed_run", "run_folder"]


@dataclass(frozen=True)
class ResumedRun:
    """A run being resumed: its manifest (`finished` cleared) and the cases it has done."""

    manifest: EvalManifest
    done: frozenset[str]


def resumed_run(runs: EvalRunStore, eval_name: str, run_id: str) -> ResumedRun:
    """Read back run `run_id` of eval `eval_name` to finish it.

    Args:
        runs: The project's eval runs (`eval_run_store`).
        eval_name: The eval being run.
        run_id: The run to finish.

    Raises:
        UserError: If the id is not a run of this eval in `runs`.
    """
    check_run_id(runs, run_id)
    record = runs.load(run_id)
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
