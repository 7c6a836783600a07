"""Metrics: each scores one output against one expected value, in [0, 1].

A metric scores the state key `field` of a finished run against the case's `expected[field]`;
a case without that key is not scored by the metric. Kinds: `exact`, `label`, `token_f1`,
`contains`, `numeric`, `json_fields`, `tool_calls`, `set_precision`, `set_recall`, `set_f1`
(list outputs, `stepladder.evalsets.list_metrics`), `judge` (see `stepladder.evalsets.judge`) and
`function` (a Python callable). The comparisons live in `stepladder.evalsets.reference_metrics`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from typing import Any

from stepladder.errors import EvalSetError, ReferenceError_
from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.judge import JudgeMetric
from stepladder.evalsets.list_metrics import SetMetric, field_key
from stepladder.evalsets.metric_base import Metric, MetricContext, scores_case
from stepladder.evalsets.reference_metrics import (
    ContainsMetric,
    ExactMetric,
    JsonFieldsMetric,
    LabelMetric,
    NumericMetric,
    TokenF1Metric,
    ToolCallsMetric,
    parse_number,
    token_f1,
)
from stepladder.evalsets.results import MetricScore
from stepladder.evalsets.spec import (
    ContainsMetricSpec,
    ExactMetricSpec,
    FunctionMetricSpec,
    JsonFieldsMetricSpec,
    JudgeMetricSpec,
    LabelMetricSpec,
    LoadedEvalSpec,
    MetricSpec,
    NumericMetricSpec,
    SetMetricSpec,
    TokenF1MetricSpec,
    ToolCallsMetricSpec,
)
from stepladder.specs.references import ReferencePolicy

__all__ = [
    "ContainsMetric",
    "ExactMetric",
    "FunctionMetric",
    "JsonFieldsMetric",
    "JudgeMetric",
    "LabelMetric",
    "Metric",
    "MetricContext",
    "NumericMetric",
    "SetMetric",
    "TokenF1Metric",
    "ToolCallsMetric",
    "build_metrics",
    "parse_number",
    "score_case",
    "scores_case",
    "token_f1",
]


async def score_case(
    metrics: Sequence[Metric], outputs: Mapping[str, Any], case: EvalCase, context: MetricContext
) -> dict[str, MetricScore]:
    """Score a case's outputs with each metric whose field the case has an expected value for.

    A metric whose `expected_null` is `skip` leaves out a case whose expected value is null.
    """
    scored = [metric for metric in metrics if scores_case(metric, case.expected)]
    scores = await asyncio.gather(
        *(m.score(outputs.get(m.field), case.expected[m.field], case, context) for m in scored)
    )
    return {metric.name: score for metric, score in zip(scored, scores, strict=True)}


@dataclass(frozen=True)
class FunctionMetric:
    """A Python callable `(output, expected, case) -> float | bool | MetricScore`, or async."""

    name: str
    field: str
    call: str
    function: Callable[..., Any]
    expected_null: str = dataclass_field(default="match", kw_only=True)

    @property
    def binary(self) -> bool:
        """Not known in advance; each score says."""
        return False

    async def score(
        self, output: Any, expected: Any, case: EvalCase, context: MetricContext
    ) -> MetricScore:
        """Call the function (awaiting it when async) and check what it returns."""
        result = self.function(output, expected, case)
        if inspect.isawaitable(result):
            result = await result
        return self._as_score(result)

    def _as_score(self, result: Any) -> MetricScore:
        if isinstance(result, bool):
            return MetricScore(value=float(result), binary=True)
        if isinstance(result, MetricScore):
            value, score = result.value, result
        elif isinstance(result, int | float):
            value, score = float(result), MetricScore(value=float(result), binary=False)
        else:
            raise EvalSetError(
                f"metric '{self.name}': '{self.call}' returned a {type(result).__name__}; a "
                "metric function returns a bool, a float in [0, 1] or a MetricScore."
            )
        if not 0.0 <= value <= 1.0:
            raise EvalSetError(
                f"metric '{self.name}': '{self.call}' returned {value!r}; scores are in [0, 1]."
            )
        return score


def build_metrics(loaded: LoadedEvalSpec, policy: ReferencePolicy) -> list[Metric]:
    """The metrics of an eval spec, with function references resolved under `policy`.

    Raises:
        EvalSetError: If a reference is refused or is not a callable of (output, expected,
            case), or a judge has no tier; named by YAML path and line.
    """
    resolver = ReferencePolicy(
        policy.project_root, policy.allow_imports, policy.objects, document=loaded.document
    )
    return [_build(name, metric, loaded, resolver) for name, metric in loaded.spec.metrics.items()]


def _build(
    name: str, spec: MetricSpec, loaded: LoadedEvalSpec, resolver: ReferencePolicy
) -> Metric:
    metric = _build_kind(name, spec, loaded, resolver)
    if spec.expected_null != "match":
        return replace(metric, expected_null=spec.expected_null)  # type: ignore[type-var]
    return metric


def _build_kind(
    name: str, spec: MetricSpec, loaded: LoadedEvalSpec, resolver: ReferencePolicy
) -> Metric:
    field = spec.field or name
    if isinstance(spec, ExactMetricSpec):
        return ExactMetric(name, field, spec.normalize)
    if isinstance(spec, LabelMetricSpec):
        return LabelMetric(name, field)
    if isinstance(spec, TokenF1MetricSpec):
        return TokenF1Metric(name, field)
    if isinstance(spec, ContainsMetricSpec):
        return ContainsMetric(name, field, spec.all, spec.normalize)
    if isinstance(spec, NumericMetricSpec):
        return NumericMetric(name, field, spec.tolerance, spec.relative)
    if isinstance(spec, JsonFieldsMetricSpec):
        return JsonFieldsMetric(name, field, tuple(spec.fields))
    if isinstance(spec, ToolCallsMetricSpec):
        return ToolCallsMetric(name, field)
    if isinstance(spec, SetMetricSpec):
        return SetMetric(name, field, spec.kind, _key(name, spec, loaded, resolver), spec.normalize)
    if isinstance(spec, JudgeMetricSpec):
        tier = loaded.spec.judge_tier_of(name)
        if tier is None:
            raise EvalSetError(
                f"{loaded.document.where(['metrics', name])}: judge metric '{name}' has no "
                "tier; set `tier:` on it or `judge_tier:` on the spec."
            )
        return JudgeMetric(name, field, tier, spec.rubric)
    return FunctionMetric(name, field, spec.call, _function(name, spec, loaded, resolver))


def _key(
    name: str, spec: SetMetricSpec, loaded: LoadedEvalSpec, resolver: ReferencePolicy
) -> Callable[[Any], Any] | None:
    """A set metric's key function: a field path, or a callable by reference."""
    if spec.key is None:
        return None
    if ":" not in spec.key:
        return field_key(spec.key)
    path = ("metrics", name, "key")
    try:
        target = resolver.resolve(spec.key, path)
    except ReferenceError_ as error:
        raise EvalSetError(str(error)) from error
    if not callable(target):
        raise EvalSetError(
            f"{loaded.document.where(path)}: '{spec.key}' is not callable; a set metric's key "
            "is a field name or a function of one item."
        )
    return target  # type: ignore[no-any-return]


def _function(
    name: str, spec: FunctionMetricSpec, loaded: LoadedEvalSpec, resolver: ReferencePolicy
) -> Callable[..., Any]:
    """Resolve a function metric's callable and check it takes (output, expected, case)."""
    path = ("metrics", name, "call")
    where = loaded.document.where(path)
    try:
        target = resolver.resolve(spec.call, path)
    except ReferenceError_ as error:
        raise EvalSetError(str(error)) from error
    if not callable(target):
        raise EvalSetError(
            f"{where}: '{spec.call}' is not callable (type {type(target).__name__}); a metric "
            "function takes (output, expected, case)."
        )
    function: Callable[..., Any] = target
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return function  # a builtin without a signature: trust it
    try:
        signature.bind(None, None, None)
    except TypeError:
        raise EvalSetError(
            f"{where}: '{spec.call}' takes {signature}, but a metric function is called with "
            "three arguments (output, expected, case)."
        ) from None
    return function
