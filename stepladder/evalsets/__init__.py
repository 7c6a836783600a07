"""Eval sets: format, metrics, runner, reports, baselines, drift and capture from traces."""

from stepladder.evalsets.capture import CaptureFilters, capture_cases, label_cases, select_runs
from stepladder.evalsets.cases import EvalCase, load_cases
from stepladder.evalsets.drift import DriftOptions, DriftReport, analyze_drift
from stepladder.evalsets.judge import JudgeMetric
from stepladder.evalsets.metrics import (
    ContainsMetric,
    ExactMetric,
    FunctionMetric,
    JsonFieldsMetric,
    LabelMetric,
    Metric,
    MetricContext,
    NumericMetric,
    TokenF1Metric,
    build_metrics,
    score_case,
    token_f1,
)
from stepladder.evalsets.production import ProductionRun, ProductionRuns, load_production_runs
from stepladder.evalsets.results import (
    CaseResult,
    EvalManifest,
    EvalRunRecord,
    MetricScore,
    append_result,
    load_run,
)
from stepladder.evalsets.spec import (
    EvalSpec,
    LoadedEvalSpec,
    MetricSpec,
    load_eval_spec,
)

__all__ = [
    "CaptureFilters",
    "CaseResult",
    "ContainsMetric",
    "DriftOptions",
    "DriftReport",
    "EvalCase",
    "EvalManifest",
    "EvalRunRecord",
    "EvalSpec",
    "ExactMetric",
    "FunctionMetric",
    "JsonFieldsMetric",
    "JudgeMetric",
    "LabelMetric",
    "LoadedEvalSpec",
    "Metric",
    "MetricContext",
    "MetricScore",
    "MetricSpec",
    "NumericMetric",
    "ProductionRun",
    "ProductionRuns",
    "TokenF1Metric",
    "analyze_drift",
    "append_result",
    "build_metrics",
    "capture_cases",
    "label_cases",
    "load_cases",
    "load_eval_spec",
    "load_production_runs",
    "load_run",
    "score_case",
    "select_runs",
    "token_f1",
]
