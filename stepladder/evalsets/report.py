"""An eval run summed up: quality with confidence intervals, cost, latency, tags, worst cases.

`summarize` turns an `EvalRunRecord` into an `EvalSummary` (JSON-serialisable, for `--json` and
the HTML page); `render_summary` prints it as rich tables. A failed case counts as 0 on every
metric it has no score for, as the results contract says. Each metric is also shown apart for
the cases that expect a value ("present") and those that expect null ("absent"); label metrics
get per-label precision, recall and F1 and a confusion matrix (`label_metrics`); the worst
cases carry their inputs, expected values and outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table
from rich.text import Text

from stepladder.evalsets.label_report import LabelReport, label_reports
from stepladder.evalsets.results import CaseResult, EvalRunRecord
from stepladder.evalsets.rungs import RungShare, rung_shares, rung_table
from stepladder.evalsets.stats import mean_ci, percentile
from stepladder.tracing.render import format_cost
from stepladder.wording import plural

__all__ = [
    "EvalSummary",
    "LabelReport",
    "MetricSummary",
    "ScoreInterval",
    "TagSummary",
    "WorstCase",
    "format_interval",
    "format_values",
    "is_binary",
    "metric_names",
    "render_summary",
    "score_of",
    "short_json",
    "summarize",
    "trace_command",
]


SCORE_BOUNDS = (0.0, 1.0)
"""Every metric scores in [0, 1], and so do the bounds of its intervals."""


class ScoreInterval(BaseModel):
    """A mean score over some cases with its 95% confidence interval (inside [0, 1])."""

    mean: float
    low: float
    high: float
    n: int


class MetricSummary(BaseModel):
    """One metric's mean over the scored cases, with its 95% confidence interval.

    Attributes:
        name: The metric's name.
        mean: The mean score.
        low: The interval's lower bound (Wilson for binary metrics, Student-t clipped to
            [0, 1] otherwise).
        high: The interval's upper bound.
        n: How many cases were scored.
        binary: Whether every score was pass/fail.
        present: Over the cases whose expected value is not null (None in tag summaries).
        absent: Over the cases whose expected value is null: a pass there means the output
            was null too (see the metric option `expected_null`).
    """

    name: str
    mean: float
    low: float
    high: float
    n: int
    binary: bool
    present: ScoreInterval | None = None
    absent: ScoreInterval | None = None


class TagSummary(BaseModel):
    """The cases carrying one tag: how many, and each metric over them."""

    tag: str
    n: int
    metrics: list[MetricSummary]


class WorstCase(BaseModel):
    """A case that failed or scored below perfect, with what is needed to look into it.

    Attributes:
        case_id: The case's id.
        ok: Whether the flow ran to the end.
        mean_score: The mean of its metric scores (None when nothing was scored).
        scores: Each metric's score.
        error: The error of a failed case.
        trace_id: The case's trace.
        trace_command: The command that shows the trace.
        inputs: The case's inputs.
        expected: The case's expected values.
        outputs: What the run gave: the scored fields, then the other output keys.
        details: Each metric's reason for a score below 1 (`got 'X', expected 'Y'`, ...).
    """

    case_id: str
    ok: bool
    mean_score: float | None
    scores: dict[str, float]
    error: str | None
    trace_id: str | None
    trace_command: str | None
    inputs: dict[str, Any] = Field(default_factory=dict)
    expected: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    details: dict[str, str] = Field(default_factory=dict)


class EvalSummary(BaseModel):
    """What an eval run shows: quality, cost, latency, escalations, tags and worst cases."""

    run_id: str
    eval_name: str
    flow: str
    started: str
    finished: str | None
    split: str | None
    tier: str | None = None
    planned: int
    cases: int
    ok: int
    failed: int
    metrics: list[MetricSummary]
    cost_total_usd: float
    cost_per_case_usd: float
    latency_p50_s: float
    latency_p95_s: float
    escalated_cases: int
    escalation_rate: float
    cache_enabled: bool
    cached_cases: int
    used_cache: bool
    tags: list[TagSummary]
    worst: list[WorstCase]
    rungs: list[RungShare] = []
    label_metrics: list[LabelReport] = []
    pricing: dict[str, str] = {}
    remote: list[str] = []
    """The `stepladder serve` replicas the cases ran on (`--remote`); empty: in process."""


def score_of(case: CaseResult, metric: str) -> float | None:
    """The case's score on `metric`: its value, 0 for a failed case, None when not scored."""
    score = case.scores.get(metric)
    if score is not None:
        return score.value
    return None if case.ok else 0.0


def is_binary(cases: Sequence[CaseResult], metric: str) -> bool:
    """Whether every score of `metric` among `cases` is pass/fail."""
    return all(case.scores[metric].binary for case in cases if metric in case.scores)


def trace_command(trace_id: str | None) -> str | None:
    """The command that shows a case's trace (`stepladder traces show <first 12 hex>`)."""
    return f"stepladder traces show {trace_id[:12]}" if trace_id else None


def summarize(run: EvalRunRecord, *, worst: int = 10) -> EvalSummary:
    """Sum up an eval run.

    Args:
        run: The run as read back by `load_run`.
        worst: How many of the worst cases to keep.
    """
    manifest, cases = run.manifest, run.results
    metrics = metric_names(run)
    costs = [case.cost_usd for case in cases]
    latencies = [case.latency_s for case in cases]
    escalated = sum(1 for case in cases if case.escalations > 0)
    cached = sum(1 for case in cases if case.cached_calls > 0)
    failed = sum(1 for case in cases if not case.ok)
    return EvalSummary(
        run_id=manifest.run_id,
        eval_name=manifest.eval_name,
        flow=manifest.flow,
        started=manifest.started,
        finished=manifest.finished,
        split=manifest.split,
        tier=manifest.tier,
        remote=list(manifest.remote or []),
        planned=manifest.cases,
        cases=len(cases),
        ok=len(cases) - failed,
        failed=failed,
        metrics=[_metric_summary(cases, name, _field(run, name)) for name in metrics],
        cost_total_usd=sum(costs),
        cost_per_case_usd=sum(costs) / len(cases) if cases else 0.0,
        latency_p50_s=percentile(latencies, 50),
        latency_p95_s=percentile(latencies, 95),
        escalated_cases=escalated,
        escalation_rate=escalated / len(cases) if cases else 0.0,
        cache_enabled=manifest.cache,
        cached_cases=cached,
        used_cache=cached > 0,
        tags=_tag_summaries(cases, metrics),
        worst=_worst_cases(cases, metrics, worst),
        rungs=rung_shares(cases),
        label_metrics=label_reports(run, metrics),
        pricing=dict(manifest.pricing or {}),
    )


def _field(run: EvalRunRecord, metric: str) -> str:
    """The state key `metric` scores (its name in runs written before fields were kept)."""
    return (run.manifest.metric_fields or {}).get(metric, metric)


def metric_names(run: EvalRunRecord) -> list[str]:
    """The run's metrics: the manifest's, then any other found in the results."""
    names = list(run.manifest.metrics)
    for case in run.results:
        names.extend(name for name in case.scores if name not in names)
    return names


def _metric_summary(
    cases: Sequence[CaseResult], metric: str, field: str | None = None
) -> MetricSummary:
    """The metric over `cases`; given its `field`, also apart for present and absent values."""
    binary = is_binary(cases, metric)
    interval = _interval(cases, metric, binary)
    summary = MetricSummary(name=metric, binary=binary, **interval.model_dump())
    if field is None:
        return summary
    present = [case for case in cases if case.expected.get(field) is not None]
    absent = [case for case in cases if field in case.expected and case.expected[field] is None]
    return summary.model_copy(
        update={
            "present": _interval(present, metric, binary),
            "absent": _interval(absent, metric, binary),
        }
    )


def _interval(cases: Sequence[CaseResult], metric: str, binary: bool) -> ScoreInterval:
    values = [value for case in cases if (value := score_of(case, metric)) is not None]
    interval = mean_ci(values, binary, SCORE_BOUNDS)
    return ScoreInterval(mean=interval.mean, low=interval.low, high=interval.high, n=interval.n)


def _tag_summaries(cases: Sequence[CaseResult], metrics: list[str]) -> list[TagSummary]:
    tags = sorted({tag for case in cases for tag in case.tags})
    summaries = []
    for tag in tags:
        tagged = [case for case in cases if tag in case.tags]
        summaries.append(
            TagSummary(
                tag=tag,
                n=len(tagged),
                metrics=[_metric_summary(tagged, name) for name in metrics],
            )
        )
    return summaries


def _worst_cases(cases: Sequence[CaseResult], metrics: list[str], limit: int) -> list[WorstCase]:
    """Failed cases first, then the lowest mean score; perfect cases are left out."""
    rows = []
    for case in cases:
        scores = {name: value for name in metrics if (value := score_of(case, name)) is not None}
        mean = sum(scores.values()) / len(scores) if scores else None
        if case.ok and (mean is None or mean >= 1.0):
            continue
        rows.append(
            WorstCase(
                case_id=case.case_id,
                ok=case.ok,
                mean_score=mean,
                scores=scores,
                error=case.error,
                trace_id=case.trace_id,
                trace_command=trace_command(case.trace_id),
                inputs=case.inputs,
                expected=case.expected,
                outputs=case.outputs,
                details={n: s.detail for n, s in case.scores.items() if s.value < 1 and s.detail},
            )
        )
    rows.sort(key=lambda row: (row.ok, 1.0 if row.mean_score is None else row.mean_score))
    return rows[:limit]


def format_interval(low: float, high: float) -> str:
    """A confidence interval for tables: `[0.490, 0.943]`."""
    return f"[{low:.3f}, {high:.3f}]"


def render_summary(summary: EvalSummary, console: Console) -> None:
    """Print the summary: header, warnings, quality, cost and latency, tags and worst cases."""
    console.print(_header(summary))
    for warning in _warnings(summary):
        console.print(Text(f"warning: {warning}", style="bold yellow"))
    console.print(_quality_table(summary))
    console.print(_operations_table(summary))
    for tier, basis in summary.pricing.items():
        console.print(Text(f"cost of tier {tier}: {basis}", style="dim"))
    if summary.rungs:
        console.print(rung_table([("cases", summary.rungs)]))
    for report in summary.label_metrics:
        console.print(_label_header(report))
        console.print(_per_label_table(report))
        console.print(_confusion_table(report))
    if summary.tags:
        console.print(_tag_table(summary))
    if summary.worst:
        console.print(Text("worst cases (failed first, then lowest mean score)", style="bold"))
        for case in summary.worst:
            console.print(_worst_case(case))


def _header(summary: EvalSummary) -> Text:
    text = Text()
    text.append(summary.eval_name, style="bold")
    text.append(f"  flow {summary.flow}  run {summary.run_id}  started {summary.started}")
    if summary.split:
        text.append(f"  split {summary.split}")
    if summary.tier:
        text.append(f"  every model node on tier {summary.tier}")
    if summary.remote:
        text.append(f"  on replicas {', '.join(summary.remote)}")
    text.append(f"\n{plural(summary.cases, 'case')}: {summary.ok} ok, ")
    text.append(f"{summary.failed} failed", style="bold red" if summary.failed else "")
    if summary.planned > summary.cases:
        text.append(f" ({summary.planned - summary.cases} not run)", style="yellow")
    return text


def _warnings(summary: EvalSummary) -> list[str]:
    warnings = []
    if summary.failed:
        warnings.append(f"{summary.failed} case(s) failed and score 0 on every metric")
    if summary.used_cache:
        warnings.append(
            f"{summary.cached_cases} case(s) used cached model responses: "
            "their latency and cost are not those of live calls"
        )
    return warnings


def _table(title: str) -> Table:
    return Table(title=title, box=None, padding=(0, 1, 0, 0), header_style="bold underline")


def _quality_table(summary: EvalSummary) -> Table:
    table = _table("quality (mean, 95% CI)")
    table.add_column("metric", no_wrap=True)
    for column in ("mean", "95% CI", "n"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    apart = any(m.absent is not None and m.absent.n for m in summary.metrics)
    if apart:
        table.add_column("expected present", justify="right", no_wrap=True)
        table.add_column("expected null", justify="right", no_wrap=True)
    for metric in summary.metrics:
        cells = [
            f"{metric.mean:.3f}",
            format_interval(metric.low, metric.high),
            str(metric.n),
            "pass/fail" if metric.binary else "continuous",
        ]
        if apart:
            cells += [_part(metric.present), _part(metric.absent)]
        table.add_row(Text(metric.name), *cells)
    return table


def _part(interval: ScoreInterval | None) -> str:
    """A mean over part of the cases, with their count: `0.750 (n=4)`."""
    if interval is None or interval.n == 0:
        return "-"
    return f"{interval.mean:.3f} (n={interval.n})"


CONFUSION_MATRIX_LABELS = 12
"""Above this many labels the terminal lists the most frequent confusions instead."""


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _label_header(report: LabelReport) -> Text:
    text = Text()
    text.append(f"label metric {report.metric}", style="bold")
    text.append(
        f" ({report.field}): accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}, "
        f"n={report.n}"
    )
    return text


def _per_label_table(report: LabelReport) -> Table:
    table = _table("per label")
    table.add_column("label", no_wrap=True, overflow="ellipsis", max_width=32)
    for column in ("precision", "recall", "F1", "expected", "predicted"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in report.per_label:
        table.add_row(
            Text(row.label),
            _ratio(row.precision),
            _ratio(row.recall),
            f"{row.f1:.3f}",
            str(row.support),
            str(row.predicted),
        )
    return table


def _confusion_table(report: LabelReport) -> Table:
    """The confusion matrix (rows expected, columns predicted).

    With too many labels to draw it, the most frequent confusions are listed instead.
    """
    if len(report.labels) > CONFUSION_MATRIX_LABELS:
        return _top_confusions(report)
    table = _table("confusion (rows expected, columns predicted)")
    table.add_column("expected \\ predicted", no_wrap=True, overflow="ellipsis", max_width=24)
    for label in report.labels:
        table.add_column(Text(label), justify="right", no_wrap=True, overflow="ellipsis")
    for i, (label, row) in enumerate(zip(report.labels, report.confusion, strict=True)):
        if not any(row):  # a label only predicted, never expected
            continue
        cells = [Text(str(count), style=_cell_style(i, j, count)) for j, count in enumerate(row)]
        table.add_row(Text(label), *cells)
    return table


def _top_confusions(report: LabelReport, limit: int = 10) -> Table:
    """The largest off-diagonal cells of the confusion matrix, most cases first."""
    table = _table("most frequent confusions")
    for column in ("expected", "predicted", "cases"):
        table.add_column(column, no_wrap=True, justify="right" if column == "cases" else "left")
    found = [
        (count, i, j)
        for i, row in enumerate(report.confusion)
        for j, count in enumerate(row)
        if i != j and count
    ]
    for count, i, j in sorted(found, key=lambda cell: (-cell[0], cell[1], cell[2]))[:limit]:
        table.add_row(Text(report.labels[i]), Text(report.labels[j]), str(count))
    return table


def _cell_style(i: int, j: int, count: int) -> str:
    """Hits bold, confusions red, empty cells dim."""
    if i == j:
        return "bold"
    return "red" if count else "dim"


def _operations_table(summary: EvalSummary) -> Table:
    table = _table("cost, latency and escalations")
    for column in ("cost total", "cost/case", "latency p50", "latency p95", "escalated", "cached"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_row(
        format_cost(summary.cost_total_usd),
        format_cost(summary.cost_per_case_usd),
        f"{summary.latency_p50_s:.2f} s",
        f"{summary.latency_p95_s:.2f} s",
        f"{summary.escalation_rate:.1%} ({summary.escalated_cases})",
        str(summary.cached_cases),
    )
    return table


def _tag_table(summary: EvalSummary) -> Table:
    table = _table("by tag (mean [95% CI])")
    table.add_column("tag", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    for metric in summary.metrics:
        table.add_column(Text(metric.name), justify="right", no_wrap=True)
    for tag in summary.tags:
        cells = [
            f"{m.mean:.3f} {format_interval(m.low, m.high)}" if m.n else "-" for m in tag.metrics
        ]
        table.add_row(Text(tag.tag), str(tag.n), *cells)
    return table


def _score_text(case: WorstCase) -> str:
    if not case.ok:
        return "failed"
    return "-" if case.mean_score is None else f"{case.mean_score:.3f}"


VALUE_CHARS = 120
"""Longest value shown in the terminal's worst-case details (the HTML report shows more)."""


def _worst_case(case: WorstCase) -> Text:
    """A worst case: score, trace, error, input, expected and actual values, and reasons.

    The reasons are each metric's detail for a score below 1. Actual values are shown for the
    fields the case has expected values for (the HTML report and the summary JSON have every
    output).
    """
    text = Text()
    text.append(case.case_id, style="bold")
    text.append(f"  {_score_text(case)}", style="" if case.ok else "bold red")
    if case.trace_command:
        text.append(f"  {case.trace_command}", style="dim")
    rows: list[tuple[str, str]] = []
    if case.error:
        rows.append(("error", case.error))
    rows += [
        ("input", format_values(case.inputs, VALUE_CHARS)),
        ("expected", format_values(case.expected, VALUE_CHARS)),
        ("got", format_values({k: case.outputs.get(k) for k in case.expected}, VALUE_CHARS)),
    ]
    rows += list(case.details.items())
    for label, value in rows:
        text.append(f"\n  {label:<9}", style="dim")
        text.append(value or "-")
    return text


def format_values(values: Mapping[str, Any], limit: int) -> str:
    """`key: value` pairs of JSON values, each value cut to `limit` characters."""
    return ", ".join(f"{key}: {short_json(value, limit)}" for key, value in values.items())


def short_json(value: Any, limit: int) -> str:
    """A value as JSON text, cut with an ellipsis to `limit` characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
