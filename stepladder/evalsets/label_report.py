"""Per-label quality of a label metric: precision, recall and F1 per label, macro-F1, confusion.

A `label` metric compares class labels, so one accuracy hides which classes go wrong. For each
such metric `label_reports` counts, over the cases the metric scored, how often each expected
label came out as each predicted label. Labels are compared the way the metric compares them
(stripped, casefolded, enum members as their values) and shown as first written in the
expected values. An expected null is the label `(none)`, and so is a null output; a failed case
is predicted `(failed)`. With a list of accepted labels, the expected label is the one the
output matched, else the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from stepladder.evalsets.reference_metrics import label_of
from stepladder.evalsets.results import CaseResult, EvalRunRecord

__all__ = ["FAILED_LABEL", "NONE_LABEL", "LabelReport", "LabelStats", "label_reports"]

NONE_LABEL = "(none)"
"""The label of a null value (expected or output)."""

FAILED_LABEL = "(failed)"
"""The predicted label of a case whose flow failed."""

LABEL_KINDS = frozenset({"label"})
"""Metric kinds that get per-label tables."""


class LabelStats(BaseModel):
    """One label's row of the per-label table.

    Attributes:
        label: The label.
        precision: Of the cases predicted this label, the share expected it (None when none
            was predicted it).
        recall: Of the cases expecting this label, the share predicted it (None when none
            expected it).
        f1: The harmonic mean of precision and recall (0 when either is None or 0).
        support: Cases expecting this label.
        predicted: Cases predicted this label.
    """

    label: str
    precision: float | None
    recall: float | None
    f1: float
    support: int
    predicted: int


class LabelReport(BaseModel):
    """A label metric's per-label table, macro-F1 and confusion matrix.

    Attributes:
        metric: The metric's name.
        field: The state key it scores.
        n: Cases counted (those the metric scored).
        accuracy: The share of cases whose predicted label is the expected one.
        macro_f1: The mean F1 over the expected labels (those with support).
        labels: Every label, expected ones first (sorted), then labels only predicted;
            the order of `per_label` and of the confusion matrix's rows and columns.
        per_label: Each label's precision, recall, F1, support and predicted count.
        confusion: `confusion[i][j]`: cases expecting `labels[i]` predicted `labels[j]`.
    """

    metric: str
    field: str
    n: int
    accuracy: float
    macro_f1: float
    labels: list[str]
    per_label: list[LabelStats]
    confusion: list[list[int]]


def label_reports(run: EvalRunRecord, metrics: Sequence[str]) -> list[LabelReport]:
    """The per-label reports of the run's label metrics (by the manifest's metric kinds)."""
    kinds = run.manifest.metric_kinds or {}
    fields = run.manifest.metric_fields or {}
    return [
        label_report(run.results, name, fields.get(name, name))
        for name in metrics
        if kinds.get(name) in LABEL_KINDS
    ]


def label_report(cases: Sequence[CaseResult], metric: str, field: str) -> LabelReport:
    """Count expected against predicted labels over the cases `metric` scored."""
    shown: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for case in cases:
        if field not in case.expected or (case.ok and metric not in case.scores):
            continue
        accepted = _accepted(case.expected[field], shown)
        predicted = _key(case.outputs.get(field), shown) if case.ok else FAILED_LABEL
        pairs.append((predicted if predicted in accepted else accepted[0], predicted))
    expected = sorted({e for e, _ in pairs}, key=_order)
    labels = expected + sorted({p for _, p in pairs} - set(expected), key=_order)
    index = {label: i for i, label in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    for want, got in pairs:
        confusion[index[want]][index[got]] += 1
    stats = [_stats(shown.get(label, label), confusion, i) for i, label in enumerate(labels)]
    with_support = [row.f1 for row in stats if row.support]
    hits = sum(confusion[i][i] for i in range(len(labels)))
    return LabelReport(
        metric=metric,
        field=field,
        n=len(pairs),
        accuracy=hits / len(pairs) if pairs else 0.0,
        macro_f1=sum(with_support) / len(with_support) if with_support else 0.0,
        labels=[shown.get(label, label) for label in labels],
        per_label=stats,
        confusion=confusion,
    )


def _key(value: Any, shown: dict[str, str]) -> str:
    """The comparison key of a label value, remembering how it was first written."""
    key = label_of(value)
    if key is None:
        return NONE_LABEL
    shown.setdefault(key, str(value).strip())
    return key


def _accepted(expected: Any, shown: dict[str, str]) -> list[str]:
    """The keys of the expected label, or of each label of a list (never empty)."""
    values = expected if isinstance(expected, list) else [expected]
    return [_key(value, shown) for value in values] or [NONE_LABEL]


def _order(label: str) -> tuple[bool, str]:
    """Labels sorted by name, with `(none)` and `(failed)` last."""
    return (label in (NONE_LABEL, FAILED_LABEL), label)


def _stats(label: str, confusion: list[list[int]], i: int) -> LabelStats:
    hits = confusion[i][i]
    support = sum(confusion[i])
    predicted = sum(row[i] for row in confusion)
    precision = hits / predicted if predicted else None
    recall = hits / support if support else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return LabelStats(
        label=label,
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
        predicted=predicted,
    )
