"""A candidate run against a baseline: paired tests per metric, cost and latency, and a gate.

Cases are paired by `case_id`; only cases in both runs count. A metric scored pass/fail in
both runs is tested with McNemar's exact test, any other with a paired bootstrap; the
difference's 95% interval is a paired bootstrap percentile interval either way. `gate` turns a
comparison into the list of reasons a CI job should fail (empty: pass).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from stepladder.evalsets.report import format_interval, is_binary, metric_names, score_of
from stepladder.evalsets.results import CaseResult, EvalRunRecord
from stepladder.evalsets.rungs import RungShare, rung_shares, rung_table
from stepladder.evalsets.stats import bootstrap_diff_ci, mcnemar, paired_bootstrap, percentile
from stepladder.tracing.render import format_cost

__all__ = [
    "Comparison",
    "Delta",
    "MetricComparison",
    "Verdict",
    "compare_runs",
    "gate",
    "render_comparison",
]

Verdict = Literal["better", "worse", "no significant change"]
VERDICT_STYLES = {"better": "bold green", "worse": "bold red", "no significant change": "dim"}


class MetricComparison(BaseModel):
    """One metric in both runs, over the cases both scored.

    Attributes:
        name: The metric.
        n: Paired cases scored in both runs.
        binary: Whether the scores are pass/fail in both runs (McNemar applies).
        baseline_mean: The baseline's mean over the paired cases.
        candidate_mean: The candidate's mean over the paired cases.
        difference: `candidate_mean - baseline_mean`.
        diff_low: The difference's 95% interval, lower bound (paired bootstrap).
        diff_high: The difference's 95% interval, upper bound.
        test: `mcnemar-exact` or `paired-bootstrap`.
        statistic: The test's statistic.
        p_value: The two-sided p-value.
        verdict: `better` or `worse` when p < alpha, else `no significant change`.
    """

    name: str
    n: int
    binary: bool
    baseline_mean: float
    candidate_mean: float
    difference: float
    diff_low: float
    diff_high: float
    test: str
    statistic: float
    p_value: float
    verdict: Verdict


class Delta(BaseModel):
    """A number in both runs and how it moved (`relative` is None when the baseline is 0)."""

    baseline: float
    candidate: float
    absolute: float
    relative: float | None


class Comparison(BaseModel):
    """A candidate run compared with a baseline run, case by case."""

    baseline_run_id: str
    candidate_run_id: str
    eval_name: str
    alpha: float
    paired: int
    only_in_baseline: int
    only_in_candidate: int
    metrics: list[MetricComparison]
    metrics_only_in_baseline: list[str]
    metrics_only_in_candidate: list[str]
    cost_per_case: Delta
    latency_p50: Delta
    warnings: list[str]
    rungs_baseline: list[RungShare] = []
    rungs_candidate: list[RungShare] = []


def compare_runs(
    baseline: EvalRunRecord,
    candidate: EvalRunRecord,
    *,
    alpha: float = 0.05,
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare `candidate` with `baseline` over the cases both ran.

    Args:
        baseline: The reference run.
        candidate: The run under test.
        alpha: The significance level of each metric's verdict.
        resamples: Bootstrap samples (intervals, and tests of continuous metrics).
        seed: The bootstrap seed (the same runs always give the same comparison).
    """
    base_cases = {case.case_id: case for case in baseline.results}
    cand_cases = {case.case_id: case for case in candidate.results}
    ids = [case_id for case_id in base_cases if case_id in cand_cases]
    pairs = [(base_cases[i], cand_cases[i]) for i in ids]
    base_metrics, cand_metrics = metric_names(baseline), metric_names(candidate)
    shared = [name for name in base_metrics if name in cand_metrics]
    return Comparison(
        baseline_run_id=baseline.manifest.run_id,
        candidate_run_id=candidate.manifest.run_id,
        eval_name=baseline.manifest.eval_name,
        alpha=alpha,
        paired=len(pairs),
        only_in_baseline=len(base_cases) - len(ids),
        only_in_candidate=len(cand_cases) - len(ids),
        metrics=[_compare_metric(pairs, name, alpha, resamples, seed) for name in shared],
        metrics_only_in_baseline=[name for name in base_metrics if name not in cand_metrics],
        metrics_only_in_candidate=[name for name in cand_metrics if name not in base_metrics],
        cost_per_case=_delta([(b.cost_usd, c.cost_usd) for b, c in pairs], mean=True),
        latency_p50=_delta([(b.latency_s, c.latency_s) for b, c in pairs], mean=False),
        warnings=_warnings(baseline, candidate, pairs),
        rungs_baseline=rung_shares([b for b, _ in pairs]),
        rungs_candidate=rung_shares([c for _, c in pairs]),
    )


def _compare_metric(
    pairs: Sequence[tuple[CaseResult, CaseResult]],
    name: str,
    alpha: float,
    resamples: int,
    seed: int,
) -> MetricComparison:
    scored = [
        (b, c, bv, cv)
        for b, c in pairs
        if (bv := score_of(b, name)) is not None and (cv := score_of(c, name)) is not None
    ]
    base = [row[2] for row in scored]
    cand = [row[3] for row in scored]
    binary = is_binary([row[0] for row in scored], name) and is_binary(
        [row[1] for row in scored], name
    )
    if binary:
        test = mcnemar(zip(base, cand, strict=True))
    else:
        test = paired_bootstrap(base, cand, resamples=resamples, seed=seed)
    interval = bootstrap_diff_ci(base, cand, resamples=resamples, seed=seed)
    n = len(scored)
    base_mean, cand_mean = (sum(base) / n, sum(cand) / n) if n else (0.0, 0.0)
    return MetricComparison(
        name=name,
        n=n,
        binary=binary,
        baseline_mean=base_mean,
        candidate_mean=cand_mean,
        difference=cand_mean - base_mean,
        diff_low=interval.low,
        diff_high=interval.high,
        test=test.method,
        statistic=test.statistic,
        p_value=test.p_value,
        verdict=_verdict(cand_mean - base_mean, test.p_value, alpha),
    )


def _verdict(difference: float, p_value: float, alpha: float) -> Verdict:
    if p_value >= alpha or difference == 0:
        return "no significant change"
    return "better" if difference > 0 else "worse"


def _delta(pairs: Sequence[tuple[float, float]], *, mean: bool) -> Delta:
    """Mean (cost) or median (latency) of each side over the paired cases, and the change."""
    base_values = [b for b, _ in pairs]
    cand_values = [c for _, c in pairs]
    if mean:
        base = sum(base_values) / len(pairs) if pairs else 0.0
        cand = sum(cand_values) / len(pairs) if pairs else 0.0
    else:
        base, cand = percentile(base_values, 50), percentile(cand_values, 50)
    relative = (cand - base) / base if base > 0 else None
    return Delta(baseline=base, candidate=cand, absolute=cand - base, relative=relative)


def _warnings(
    baseline: EvalRunRecord,
    candidate: EvalRunRecord,
    pairs: Sequence[tuple[CaseResult, CaseResult]],
) -> list[str]:
    warnings = []
    if baseline.manifest.eval_name != candidate.manifest.eval_name:
        warnings.append(
            f"the runs come from different evals ({baseline.manifest.eval_name!r} and "
            f"{candidate.manifest.eval_name!r})"
        )
    for label, run in (("baseline", baseline), ("candidate", candidate)):
        cached = sum(1 for case in run.results if case.cached_calls > 0)
        if cached:
            warnings.append(
                f"{cached} {label} case(s) used cached model responses: "
                "cost and latency deltas are not those of live calls"
            )
    failed = sum(1 for b, c in pairs if not b.ok or not c.ok)
    if failed:
        warnings.append(f"{failed} paired case(s) failed in at least one run (scored 0)")
    base_pricing = baseline.manifest.pricing or {}
    for tier, basis in (candidate.manifest.pricing or {}).items():
        if tier in base_pricing and base_pricing[tier] != basis:
            warnings.append(
                f"tier {tier} was priced differently: {base_pricing[tier]} in the baseline, "
                f"{basis} in the candidate"
            )
    return warnings


def gate(
    comparison: Comparison,
    *,
    max_cost_increase: float = 0.10,
    max_latency_increase: float | None = None,
) -> list[str]:
    """The reasons the candidate fails the gate; an empty list means it passes.

    Args:
        comparison: What `compare_runs` gave.
        max_cost_increase: The largest allowed relative rise of the cost per case (0.10: 10%).
        max_latency_increase: The largest allowed relative rise of the median latency; None
            leaves latency unchecked.
    """
    if comparison.paired == 0:
        return ["no case is in both runs: there is nothing to compare"]
    failures = [
        failure for metric in comparison.metrics if (failure := _worse(metric, comparison.alpha))
    ]
    cost = _over_bound("cost per case", comparison.cost_per_case, max_cost_increase, format_cost)
    if cost:
        failures.append(cost)
    if max_latency_increase is not None:
        latency = _over_bound(
            "median latency", comparison.latency_p50, max_latency_increase, _seconds
        )
        if latency:
            failures.append(latency)
    return failures


def _worse(metric: MetricComparison, alpha: float) -> str | None:
    if metric.verdict != "worse":
        return None
    return (
        f"{metric.name} is significantly worse: {metric.baseline_mean:.3f} -> "
        f"{metric.candidate_mean:.3f} (difference {metric.difference:+.3f}, 95% CI "
        f"{format_interval(metric.diff_low, metric.diff_high)}, {metric.test} "
        f"p={metric.p_value:.4f} < {alpha:g}, n={metric.n})"
    )


def _over_bound(label: str, delta: Delta, bound: float, fmt: Callable[[float], str]) -> str | None:
    moved = f"{fmt(delta.baseline)} -> {fmt(delta.candidate)}"
    if delta.relative is None:
        if delta.candidate <= delta.baseline:
            return None
        return f"{label} rose from {moved}, above the +{bound:.0%} bound"
    if delta.relative <= bound:
        return None
    return f"{label} rose {delta.relative:+.1%} ({moved}), above the +{bound:.0%} bound"


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def render_comparison(comparison: Comparison, console: Console) -> None:
    """Print the comparison: pairing, warnings, metric verdicts, cost and latency deltas."""
    header = Text()
    header.append(f"baseline {comparison.baseline_run_id}", style="bold")
    header.append(" vs ")
    header.append(f"candidate {comparison.candidate_run_id}", style="bold")
    header.append(f"  ({comparison.eval_name}): {comparison.paired} paired case(s)")
    unpaired = comparison.only_in_baseline + comparison.only_in_candidate
    if unpaired:
        header.append(
            f", {comparison.only_in_baseline} only in the baseline, "
            f"{comparison.only_in_candidate} only in the candidate (left out)",
            style="yellow",
        )
    console.print(header)
    for warning in _all_warnings(comparison):
        console.print(Text(f"warning: {warning}", style="bold yellow"))
    console.print(_metrics_table(comparison))
    console.print(_operations_table(comparison))
    if comparison.rungs_baseline or comparison.rungs_candidate:
        console.print(
            rung_table(
                [("baseline", comparison.rungs_baseline),
                 ("candidate", comparison.rungs_candidate)]
            )
        )  # fmt: skip


def _all_warnings(comparison: Comparison) -> list[str]:
    warnings = list(comparison.warnings)
    for side, names in (
        ("baseline", comparison.metrics_only_in_baseline),
        ("candidate", comparison.metrics_only_in_candidate),
    ):
        if names:
            warnings.append(f"metric(s) only in the {side}, not compared: {', '.join(names)}")
    return warnings


def _table(title: str) -> Table:
    return Table(title=title, box=None, padding=(0, 1, 0, 0), header_style="bold underline")


def _metrics_table(comparison: Comparison) -> Table:
    table = _table(f"quality (paired; verdict at alpha={comparison.alpha:g})")
    table.add_column("metric", no_wrap=True)
    for column in ("n", "baseline", "candidate", "diff", "95% CI", "test", "p"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for m in comparison.metrics:
        table.add_row(
            Text(m.name),
            str(m.n),
            f"{m.baseline_mean:.3f}",
            f"{m.candidate_mean:.3f}",
            f"{m.difference:+.3f}",
            format_interval(m.diff_low, m.diff_high),
            "McNemar" if m.test == "mcnemar-exact" else "bootstrap",
            f"{m.p_value:.4f}",
            Text(m.verdict, style=VERDICT_STYLES[m.verdict]),
        )
    return table


def _operations_table(comparison: Comparison) -> Table:
    table = _table("cost and latency (paired cases)")
    table.add_column("", no_wrap=True)
    for column in ("baseline", "candidate", "change", "relative"):
        table.add_column(column, justify="right", no_wrap=True)
    rows: list[tuple[str, Delta, Callable[[float], str]]] = [
        ("cost/case", comparison.cost_per_case, format_cost),
        ("latency p50", comparison.latency_p50, _seconds),
    ]
    for label, delta, fmt in rows:
        sign = "-" if delta.absolute < 0 else "+"
        table.add_row(
            label,
            fmt(delta.baseline),
            fmt(delta.candidate),
            f"{sign}{fmt(abs(delta.absolute))}",
            "-" if delta.relative is None else f"{delta.relative:+.1%}",
        )
    return table
