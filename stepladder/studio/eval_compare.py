"""Two eval runs side by side: the cases whose score changed, and the CI gate's verdict.

The comparison and the verdict are `stepladder eval compare --gate`'s own: `compare_runs` then
`gate`, with the same defaults (alpha 0.05, cost per case may rise 10%, latency unchecked)
unless the request names other values, as the command's options do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepladder.config import Project
from stepladder.errors import UserError
from stepladder.evalsets.report import metric_names
from stepladder.evalsets.run_comparison import compare_runs, gate
from stepladder.studio.eval_runs import LoadedRun, case_rows

__all__ = ["GateOptions", "compare_detail"]

SIDE_FIELDS = ("ok", "error", "outputs", "expected", "scores", "score_values", "mean_score",
               "latency_s", "cost_usd", "trace_id")  # fmt: skip


@dataclass(frozen=True)
class GateOptions:
    """The options of `stepladder eval compare --gate`; None keeps the command's default."""

    alpha: float | None = None
    max_cost_increase: float | None = None
    max_latency_increase: float | None = None

    def check(self) -> None:
        """Raise a `UserError` for values the tests cannot use."""
        if self.alpha is not None and not 0 < self.alpha < 1:
            raise UserError(f"alpha must be between 0 and 1 (exclusive), not {self.alpha}.")
        for name in ("max_cost_increase", "max_latency_increase"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise UserError(f"{name} must be 0 or more (0.10 is +10%), not {value}.")


def compare_detail(
    project: Project, baseline: LoadedRun, candidate: LoadedRun, options: GateOptions
) -> dict[str, Any]:
    """The comparison of `candidate` (b) with `baseline` (a), its gate verdict, changed cases.

    Raises:
        UserError: If an option is out of range.
    """
    options.check()
    if options.alpha is None:
        comparison = compare_runs(baseline.record, candidate.record)
    else:
        comparison = compare_runs(baseline.record, candidate.record, alpha=options.alpha)
    bounds: dict[str, float] = {}
    if options.max_cost_increase is not None:
        bounds["max_cost_increase"] = options.max_cost_increase
    if options.max_latency_increase is not None:
        bounds["max_latency_increase"] = options.max_latency_increase
    failures = gate(comparison, **bounds)
    shared = [m.name for m in comparison.metrics]
    changed = changed_cases(project, baseline, candidate, shared)
    return {
        "a": _run_header(baseline),
        "b": _run_header(candidate),
        "comparison": comparison.model_dump(mode="json"),
        "gate": {
            "passed": not failures,
            "failures": failures,
            "options": {
                "alpha": comparison.alpha,
                "max_cost_increase": bounds.get("max_cost_increase", 0.10),
                "max_latency_increase": bounds.get("max_latency_increase"),
            },
            "command": _command(baseline.run_id, candidate.run_id, options),
        },
        "metrics": shared,
        "changed": changed,
        "counts": {
            "regressions": sum(1 for case in changed if case["kind"] == "regression"),
            "improvements": sum(1 for case in changed if case["kind"] == "improvement"),
            "mixed": sum(1 for case in changed if case["kind"] == "mixed"),
        },
    }


def changed_cases(
    project: Project, baseline: LoadedRun, candidate: LoadedRun, metrics: list[str]
) -> list[dict[str, Any]]:
    """The paired cases with a different score on some shared metric, worst change first.

    Each is a `regression` (every changed score fell), an `improvement` (every one rose) or
    `mixed`; `a` and `b` hold each run's side (outputs, scores, error, trace).
    """
    a_rows = {row["case_id"]: row for row in case_rows(project, baseline.record)}
    b_rows = {row["case_id"]: row for row in case_rows(project, candidate.record)}
    changed = []
    for case_id, a_row in a_rows.items():
        b_row = b_rows.get(case_id)
        if b_row is None:
            continue
        deltas = _deltas(a_row["score_values"], b_row["score_values"], metrics)
        if not deltas:
            continue
        changed.append(
            {
                "case_id": case_id,
                "tags": a_row["tags"],
                "inputs": a_row["inputs"] if a_row["inputs"] is not None else b_row["inputs"],
                "expected": a_row["expected"],
                "expected_changed": a_row["expected"] != b_row["expected"],
                "deltas": deltas,
                "change": sum(deltas.values()),
                "kind": _kind(list(deltas.values())),
                "a": {field: a_row.get(field) for field in SIDE_FIELDS},
                "b": {field: b_row.get(field) for field in SIDE_FIELDS},
            }
        )
    changed.sort(key=lambda case: (case["change"], case["case_id"]))
    return changed


def _deltas(a: dict[str, Any], b: dict[str, Any], metrics: list[str]) -> dict[str, float]:
    """Each shared metric's score change (b - a), for the metrics scored in both that moved."""
    deltas = {}
    for name in metrics:
        before, after = a.get(name), b.get(name)
        if before is None or after is None or before == after:
            continue
        deltas[name] = float(after) - float(before)
    return deltas


def _kind(deltas: list[float]) -> str:
    if all(delta < 0 for delta in deltas):
        return "regression"
    if all(delta > 0 for delta in deltas):
        return "improvement"
    return "mixed"


def _run_header(run: LoadedRun) -> dict[str, Any]:
    manifest = run.record.manifest
    return {
        "run_id": run.run_id,
        "baseline": run.baseline,
        "eval_name": manifest.eval_name,
        "flow": manifest.flow,
        "started": manifest.started,
        "cases": len(run.record.results),
        "metrics": metric_names(run.record),
    }


def _command(a: str, b: str, options: GateOptions) -> str:
    """The command line that gives the same verdict in a terminal or CI job."""
    parts = ["stepladder", "eval", "compare", a, b, "--gate"]
    if options.max_cost_increase is not None:
        parts += ["--max-cost-increase", f"{options.max_cost_increase:g}"]
    if options.max_latency_increase is not None:
        parts += ["--max-latency-increase", f"{options.max_latency_increase:g}"]
    if options.alpha is not None:
        parts += ["--alpha", f"{options.alpha:g}"]
    return " ".join(parts)
