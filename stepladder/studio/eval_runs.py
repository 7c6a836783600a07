"""Eval runs as the studio shows them: the list, one run with every case, read from disk.

Runs are read from the project's eval run store (`.stepladder/evals/RUN_ID/`, or Postgres with
`state.postgres`; see `stepladder.evalsets.run_store`); baselines saved
with `stepladder eval baseline save` are listed too, as `baseline:<eval_name>`, the name
`stepladder eval compare` takes. Summaries come from `stepladder.evalsets.report.summarize`, so
the studio shows the same metrics and intervals as `stepladder eval report`; any field the
summary carries is passed on (the page renders tables it does not know generically).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepladder.config import Project
from stepladder.errors import StepladderError, UserError
from stepladder.evalsets.baseline import BASELINES_DIR, list_baselines
from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.report import EvalSummary, metric_names, score_of, summarize
from stepladder.evalsets.results import CaseResult, EvalManifest, EvalRunRecord
from stepladder.evalsets.run_store import EvalRunFiles, EvalRunStore, eval_run_store
from stepladder.evalsets.spec import load_eval_spec

__all__ = [
    "BASELINE_PREFIX",
    "EvalRunNotFound",
    "LoadedRun",
    "case_rows",
    "list_runs",
    "load_run",
    "run_detail",
]

logger = logging.getLogger(__name__)

BASELINE_PREFIX = "baseline:"
RECENT_RUNS = 10


class EvalRunNotFound(UserError):
    """No eval run has the id asked for."""


@dataclass(frozen=True)
class StoredRun:
    """A run the studio can name: its id there, the store holding it, and its id in that store.

    Baselines are held by a store of their own (`evalsets/baselines/`, one folder per eval).
    """

    run_id: str
    store: EvalRunStore
    stored_id: str
    baseline: bool

    def load(self) -> LoadedRun:
        """The run, read."""
        stamp = self.store.stamp(self.stored_id)
        return LoadedRun(self.run_id, self.store.load(self.stored_id), self.baseline, stamp)


@dataclass(frozen=True)
class LoadedRun:
    """An eval run read from its store, under the id the studio names it by."""

    run_id: str
    record: EvalRunRecord
    baseline: bool
    stamp: tuple[int, ...] = ()
    """How the run's store last wrote it (see `EvalRunStore.stamp`)."""

    @property
    def summary(self) -> EvalSummary:
        """The run summed up as `stepladder eval report` does (cached by its stamp)."""
        return _summary(self.record.folder, self.stamp, self.record)


_SUMMARIES: dict[tuple[Path, tuple[int, ...]], EvalSummary] = {}


def _summary(folder: Path, stamp: tuple[int, ...], record: EvalRunRecord) -> EvalSummary:
    if not stamp:
        return summarize(record)
    key = (folder, stamp)
    if key not in _SUMMARIES:
        if len(_SUMMARIES) > 256:
            _SUMMARIES.clear()
        _SUMMARIES[key] = summarize(record)
    return _SUMMARIES[key]


def _stored_runs(project: Project) -> Iterator[StoredRun]:
    """Every run the studio can show: the project's runs by id, then the baselines."""
    runs = eval_run_store(project)
    for run_id in sorted(runs.run_ids()):
        yield StoredRun(run_id, runs, run_id, False)
    baselines = EvalRunFiles(project.root / BASELINES_DIR)
    for name in list_baselines(project.root):
        yield StoredRun(BASELINE_PREFIX + name, baselines, name, True)


def load_run(project: Project, run_id: str) -> LoadedRun:
    """The run named `run_id`: a run id of the project's store, or `baseline:<eval>`.

    Only those names are accepted (never a path), so the studio reads nothing else on disk.

    Raises:
        EvalRunNotFound: If no run has that id; the message lists recent ones.
    """
    for known in _stored_runs(project):
        if known.run_id == run_id:
            return known.load()
    raise EvalRunNotFound(_not_found(project, run_id))


def _not_found(project: Project, run_id: str) -> str:
    ids = [known.run_id for known in _stored_runs(project)]
    runs = sorted((i for i in ids if not i.startswith(BASELINE_PREFIX)), reverse=True)
    shown = [*runs[:RECENT_RUNS], *(i for i in ids if i.startswith(BASELINE_PREFIX))]
    where = eval_run_store(project).where
    listed = ", ".join(shown) if shown else f"none yet (no runs in {where})"
    return f"no eval run {run_id!r} in this project. Eval runs: {listed}."


def list_runs(project: Project) -> dict[str, Any]:
    """Every eval run, newest first, then the baselines; runs that cannot be read are named."""
    rows: list[tuple[tuple[str, int], dict[str, Any]]] = []
    skipped: list[str] = []
    for stored in _stored_runs(project):
        try:
            run = stored.load()
            rows.append((_when(run.stamp, run.record.manifest), _run_row(run)))
        except (StepladderError, ValueError, OSError) as error:
            where = stored.store.report_folder(stored.stored_id)
            logger.warning("eval run %s cannot be read: %s", where, error)
            skipped.append(f"{where}: {error}")
    rows.sort(key=lambda item: item[0], reverse=True)  # newest first
    rows.sort(key=lambda item: bool(item[1]["baseline"]))  # stable: baselines last
    return {"runs": [row for _, row in rows], "skipped": skipped}


def _when(stamp: tuple[int, ...], manifest: EvalManifest) -> tuple[str, int]:
    """A key that orders runs by when they started.

    The start is kept to the second; of two runs started in one second, the one whose
    results were written last comes last.
    """
    return manifest.started, stamp[2] if len(stamp) > 2 else 0


def _run_row(run: LoadedRun) -> dict[str, Any]:
    summary = run.summary
    return {
        "run_id": run.run_id,
        "baseline": run.baseline,
        "eval_name": summary.eval_name,
        "flow": summary.flow,
        "started": summary.started,
        "finished": summary.finished,
        "split": summary.split,
        "tier": summary.tier,
        "planned": summary.planned,
        "cases": summary.cases,
        "ok": summary.ok,
        "failed": summary.failed,
        "metrics": [
            {"name": m.name, "mean": m.mean, "low": m.low, "high": m.high, "n": m.n}
            for m in summary.metrics
        ],
        "cost_total_usd": summary.cost_total_usd,
        "cost_per_case_usd": summary.cost_per_case_usd,
        "latency_p50_s": summary.latency_p50_s,
    }


def run_detail(project: Project, run: LoadedRun) -> dict[str, Any]:
    """One run: its manifest, its summary and every case.

    The summary is `summarize`'s: metrics with intervals, tags, cost, latency, and whatever
    else it holds.
    """
    record = run.record
    totals = {
        "input_tokens": sum(case.input_tokens for case in record.results),
        "output_tokens": sum(case.output_tokens for case in record.results),
    }
    return {
        "run_id": run.run_id,
        "baseline": run.baseline,
        "manifest": record.manifest.model_dump(mode="json"),
        "summary": run.summary.model_dump(mode="json"),
        "totals": totals,
        "metric_names": metric_names(record),
        "related": related_runs(project, run),
        "cases": case_rows(project, record),
    }


def related_runs(project: Project, run: LoadedRun) -> dict[str, str | None]:
    """The runs worth comparing `run` with: its eval's baseline and its eval's previous run."""
    manifest = run.record.manifest
    has_baseline = manifest.eval_name in list_baselines(project.root)
    baseline = BASELINE_PREFIX + manifest.eval_name if has_baseline and not run.baseline else None
    this = _when(run.stamp, manifest)
    previous: tuple[tuple[str, int], str] | None = None
    for stored in _stored_runs(project):
        other = None if stored.baseline else stored.store.manifest(stored.stored_id)
        if other is None or other.eval_name != manifest.eval_name or stored.run_id == run.run_id:
            continue
        when = _when(stored.store.stamp(stored.stored_id), other)
        if when < this and (previous is None or when > previous[0]):
            previous = (when, stored.run_id)
    return {"baseline": baseline, "previous": previous[1] if previous else None}


def case_rows(project: Project, record: EvalRunRecord) -> list[dict[str, Any]]:
    """Every case of the run: what the results file holds, plus its inputs and mean score.

    A case's inputs are the run's own when its results carry them, else those of the case
    with the same id in the eval's cases file (`inputs_source` says which).
    """
    names = metric_names(record)
    cases_file = _cases_by_id(project, record)
    return [_case_row(case, names, cases_file) for case in record.results]


def _case_row(
    case: CaseResult, names: list[str], cases_file: dict[str, EvalCase]
) -> dict[str, Any]:
    row = case.model_dump(mode="json")
    recorded = row.get("inputs")
    if recorded is not None:
        source = "run"
    elif case.case_id in cases_file:
        row["inputs"], source = cases_file[case.case_id].inputs, "cases file"
    else:
        row["inputs"], source = None, None
    row["inputs_source"] = source
    values = {name: score_of(case, name) for name in names}
    row["score_values"] = values
    scored = [value for value in values.values() if value is not None]
    row["mean_score"] = sum(scored) / len(scored) if scored else None
    return row


def _cases_by_id(project: Project, record: EvalRunRecord) -> dict[str, EvalCase]:
    """The eval's cases by id, read from its spec's cases file ({} when it cannot be read)."""
    manifest = record.manifest
    spec_path = Path(manifest.spec_path).expanduser()
    candidates = [spec_path] if spec_path.is_absolute() else [project.root / spec_path]
    candidates += [
        project.root / "evalsets" / f"{manifest.eval_name}{suffix}" for suffix in (".yaml", ".yml")
    ]
    for candidate in candidates:
        if not candidate.is_file():
            continue
        try:
            loaded = load_eval_spec(candidate)
            if loaded.spec.name != manifest.eval_name:
                continue
            return {case.id: case for case in loaded.load_cases()}
        except StepladderError as error:
            logger.info(
                "cases of eval run %s not read from %s: %s", manifest.run_id, candidate, error
            )
    return {}
