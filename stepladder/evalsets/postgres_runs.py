"""Eval runs in Postgres (`state.postgres`): manifests and case results, shared by processes.

`stepladder_eval_runs` holds each run's manifest (JSON); `stepladder_eval_results` one row per
case, written as the case finishes (a case run again by a resumed run replaces its row), so a
run killed on one machine is resumed, compared or reported on another. The tables are created
by the state store's migrations (`stepladder.state.postgres`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepladder.config.state import masked_url
from stepladder.errors import UserError
from stepladder.evalsets.results import CaseResult, EvalManifest, EvalRunRecord

__all__ = ["PostgresEvalRuns", "PostgresResults"]

_SAVE_MANIFEST = (
    "INSERT INTO stepladder_eval_runs (run_id, eval_name, manifest) VALUES (%s, %s, %s) "
    "ON CONFLICT (run_id) DO UPDATE SET eval_name = EXCLUDED.eval_name, "
    "manifest = EXCLUDED.manifest, written = DEFAULT"
)
_SAVE_RESULT = (
    "INSERT INTO stepladder_eval_results (run_id, case_id, result) VALUES (%s, %s, %s) "
    "ON CONFLICT (run_id, case_id) DO UPDATE SET result = EXCLUDED.result, "
    "seq = DEFAULT"
)


class PostgresEvalRuns:
    """The eval runs of every process on one Postgres database.

    Args:
        url: The state store's URL.
        reports: The folder under which each run's report folder is (`.stepladder/eval-reports`).
    """

    def __init__(self, url: str, reports: Path) -> None:
        self.url = url
        self.reports = reports

    @property
    def where(self) -> str:
        """The database, its password masked."""
        return f"the Postgres state store at {masked_url(self.url)}"

    def run_ids(self) -> list[str]:
        """Every run's id, the manifest written last first."""
        rows = self._read("SELECT run_id FROM stepladder_eval_runs ORDER BY written DESC", ())
        return [str(row[0]) for row in rows]

    def has_run(self, run_id: str) -> bool:
        """Whether the run has a manifest here."""
        return bool(self._read("SELECT 1 FROM stepladder_eval_runs WHERE run_id = %s", (run_id,)))

    def manifest(self, run_id: str) -> EvalManifest | None:
        """The run's manifest (None when missing or unreadable)."""
        rows = self._read("SELECT manifest FROM stepladder_eval_runs WHERE run_id = %s", (run_id,))
        try:
            return EvalManifest.model_validate_json(rows[0][0]) if rows else None
        except ValueError:
            return None

    def load(self, run_id: str) -> EvalRunRecord:
        """The run and its results in the order they were written.

        Raises:
            UserError: If there is no such run.
        """
        manifest = self.manifest(run_id)
        if manifest is None:
            raise UserError(f"no eval run {run_id!r} in {self.where}.")
        rows = self._read(
            "SELECT result FROM stepladder_eval_results WHERE run_id = %s ORDER BY seq",
            (run_id,),
        )
        results = [CaseResult.model_validate_json(row[0]) for row in rows]
        return EvalRunRecord(manifest=manifest, results=results, folder=self.report_folder(run_id))

    def save_manifest(self, manifest: EvalManifest) -> None:
        """Create the run, or rewrite its manifest."""
        row = (manifest.run_id, manifest.eval_name, manifest.model_dump_json())
        self._write(lambda connection: connection.execute(_SAVE_MANIFEST, row), "saving a run")

    def results(self, run_id: str) -> PostgresResults:
        """The run's results, to append to."""
        return PostgresResults(self, run_id)

    def stamp(self, run_id: str) -> tuple[int, ...]:
        """The manifest's write number, how many results there are and the newest one's."""
        rows = self._read(
            "SELECT r.written, count(c.case_id), coalesce(max(c.seq), 0) "
            "FROM stepladder_eval_runs r LEFT JOIN stepladder_eval_results c USING (run_id) "
            "WHERE r.run_id = %s GROUP BY r.written",
            (run_id,),
        )
        return tuple(int(value) for value in rows[0]) if rows else (0, 0, 0)

    def report_folder(self, run_id: str) -> Path:
        """`<state_dir>/eval-reports/RUN_ID` (made when a report is written)."""
        return self.reports / run_id

    def save_result(self, run_id: str, result: CaseResult) -> None:
        """Keep one case's result (committed before returning)."""
        row = (run_id, result.case_id, result.model_dump_json())
        self._write(lambda connection: connection.execute(_SAVE_RESULT, row), "saving a result")

    def _read(self, query: str, arguments: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        from stepladder.state.transactions import in_state  # lazy: imports the flows package

        return in_state(
            self.url,
            lambda connection: connection.execute(query, arguments).fetchall(),
            "reading eval runs",
        )

    def _write(self, work: Any, what: str) -> None:
        from stepladder.state.transactions import in_state  # lazy: imports the flows package

        in_state(self.url, work, what)


class PostgresResults:
    """A run's results in Postgres, open while the run lasts (each is committed at once)."""

    def __init__(self, runs: PostgresEvalRuns, run_id: str) -> None:
        self.runs = runs
        self.run_id = run_id

    def append(self, result: CaseResult) -> None:
        """Keep one case's result."""
        self.runs.save_result(self.run_id, result)

    def close(self) -> None:
        """Nothing to close: the connections are the process's pool's."""

    def __enter__(self) -> PostgresResults:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
