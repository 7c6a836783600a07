"""An eval run summed up: quality with confidence intervals, cost, latency, tags, worst cases.

`summarize` turns an `EvalRunRecord` into an `EvalSummary` (JSON-serialisable, for `--json` and
the HTML page); `render_summary` prints it as rich tables. A failed case counts as 0 on every
metric it has no score for, as the results contract says.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from stepladder.evalsets.results import CaseResult, EvalRunRecord
from stepladder.evalsets.rungs import RungShare, rung_shares, rung_table
from stepladder.evalsets.stats import mean_ci, percentile
from stepladder.tracing.render import format_cost

__all__ = [
    "EvalSummary",
    "MetricSummary",
    "TagSummary",
    "WorstCase",
    "format_interval",
    "is_binary",
    "metric_names",
    "render_summary",
    "score_of",
    "summarize",
    "trace_command",
]


class MetricSummary(BaseModel):
    """One metric's mean over the scored cases, with its 95% confidence interval.

    Attributes:
        name: The metric's name.
        mean: The mean score.
        low: The interval's lower bound (Wilson for binary metrics, Student-t otherwise).
        high: The interval's upper bound.
        n: How many cases were scored.
        binary: Whether every score was pass/fail.
    """

    name: str
    mean: float
    low: float
    high: float
    n: int
    binary: bool


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
    """

    case_id: str
    ok: bool
    mean_score: float | None
    scores: dict[str, float]
    error: str | None
    trace_id: str | None
    trace_command: str | None


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
    pricing: dict[str, str] = {}


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
        planned=manifest.cases,
        cases=len(cases),
        ok=len(cases) - failed,
        failed=failed,
        metrics=[_metric_summary(cases, name) for name in metrics],
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
        pricing=dict(manifest.pricing or {}),
    )


def metric_names(run: EvalRunRecord) -> list[str]:
    """The run's metrics: the manifest's, then any other found in the results."""
    names = list(run.manifest.metrics)
    for case in run.results:
        names.extend(name for name in case.scores if name not in names)
    return names


def _metric_summary(cases: Sequence[CaseResult], metric: str) -> MetricSummary:
    values = [value for case in cases if (value := score_of(case, metric)) is not None]
    binary = is_binary(cases, metric)
    interval = mean_ci(values, binary)
    return MetricSummary(
        name=metric,
        mean=interval.mean,
        low=interval.low,
        high=interval.high,
        n=interval.n,
        binary=binary,
    )


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
    if summary.tags:
        console.print(_tag_table(summary))
    if summary.worst:
        console.print(_worst_table(summary))


def _header(summary: EvalSummary) -> Text:
    text = Text()
    text.append(summary.eval_name, style="bold")
    text.append(f"  flow {summary.flow}  run {summary.run_id}  started {summary.started}")
    if summary.split:
        text.append(f"  split {summary.split}")
    if summary.tier:
        text.append(f"  every model node on tier {summary.tier}")
    text.append(f"\n{summary.cases} cases: {summary.ok} ok, ")
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
    for metric in summary.metrics:
        table.add_row(
            Text(metric.name),
            f"{metric.mean:.3f}",
            format_interval(metric.low, metric.high),
            str(metric.n),
            "pass/fail" if metric.binary else "continuous",
        )
    return table


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


def _worst_table(summary: EvalSummary) -> Table:
    table = _table("worst cases (failed first, then lowest mean score)")
    table.add_column("case", no_wrap=True, overflow="ellipsis", max_width=28)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("error", overflow="ellipsis", max_width=48)
    table.add_column("trace", no_wrap=True)
    for case in summary.worst:
        score = "-" if case.mean_score is None else f"{case.mean_score:.3f}"
        table.add_row(
            Text(case.case_id),
            Text(score if case.ok else "failed", style="" if case.ok else "bold red"),
            Text(case.error or ""),
            Text(case.trace_command or "-"),
        )
    return table
