"""What `Project.eval` returns, and where an eval spec given by name is found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepladder.config import Project as ProjectConfig
from stepladder.errors import UserError
from stepladder.evalsets.html_report import report_html
from stepladder.evalsets.report import EvalSummary, MetricSummary, summarize
from stepladder.evalsets.results import CaseResult, EvalRunRecord

__all__ = ["EVALSETS_DIR", "REPORT_FILE", "EvalResult", "eval_spec_path", "finish_eval"]

REPORT_FILE = "report.html"
EVALSETS_DIR = "evalsets"
SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class EvalResult:
    """A finished eval run: its cases and its summary.

    Attributes:
        record: The run as kept on disk (manifest, folder, every case's result).
        summary: What `stepladder eval` prints: metrics with intervals, per tag, cost,
            latency, escalations and the worst cases.
        replay: For a replayed run: per node, the calls replayed and run, and the time,
            cost and model calls the replayed ones saved (`ReplaySession.summary`).
    """

    record: EvalRunRecord
    summary: EvalSummary
    replay: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        """The run's id (`stepladder eval report RUN_ID`, `eval compare`)."""
        return self.record.manifest.run_id

    @property
    def report(self) -> Path:
        """The run's HTML report."""
        return self.record.folder / REPORT_FILE

    @property
    def results(self) -> list[CaseResult]:
        """Every case's result."""
        return list(self.record.results)

    def metric(self, name: str) -> MetricSummary:
        """The summary of metric `name` (mean, low, high, n).

        Raises:
            UserError: Naming the metrics there are, when `name` is not one.
        """
        for metric in self.summary.metrics:
            if metric.name == name:
                return metric
        names = ", ".join(m.name for m in self.summary.metrics)
        raise UserError(f"no metric '{name}' in eval '{self.summary.eval_name}'; it has {names}.")

    @property
    def failed(self) -> list[CaseResult]:
        """The cases whose flow failed."""
        return [r for r in self.record.results if not r.ok]


def finish_eval(record: EvalRunRecord) -> EvalResult:
    """Summarize a finished run and write its HTML report (`report.html` in its folder).

    The folder is the run's own, or with runs in Postgres `.stepladder/eval-reports/RUN_ID`.
    """
    summary = summarize(record)
    record.folder.mkdir(parents=True, exist_ok=True)
    (record.folder / REPORT_FILE).write_text(report_html(record, summary), encoding="utf-8")
    return EvalResult(record, summary)


def eval_spec_path(project: ProjectConfig, spec: str | Path) -> Path:
    """The eval spec file `spec` names: a path, else one under the project or its `evalsets/`.

    A name that matches no file is returned as given, so loading it reports it missing.
    """
    given = Path(spec)
    folder = project.root / EVALSETS_DIR
    candidates = [given, project.root / given, folder / given]
    if given.suffix not in SPEC_SUFFIXES:
        candidates += [folder / f"{given}{suffix}" for suffix in SPEC_SUFFIXES]
    return next((path for path in candidates if path.is_file()), given)
