"""Eval sets: format, cases, metrics, judge, runner, results, reports, baselines, comparison."""

from stepladder.evalsets.cases import EvalCase, load_cases
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
    "CaseResult",
    "ContainsMetric",
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
    "TokenF1Metric",
    "append_result",
    "build_metrics",
    "load_cases",
    "load_eval_spec",
    "load_run",
    "score_case",
    "token_f1",
]
