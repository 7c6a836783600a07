"""Eval sets: the format, metrics, the runner, reports and comparison against a baseline."""

from stepladder.evalsets.results import (
    CaseResult,
    EvalManifest,
    EvalRunRecord,
    MetricScore,
    append_result,
    load_run,
    run_folder,
)

__all__ = [
    "CaseResult",
    "EvalManifest",
    "EvalRunRecord",
    "MetricScore",
    "append_result",
    "load_run",
    "run_folder",
]
