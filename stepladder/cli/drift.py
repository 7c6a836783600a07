"""`stepladder drift FLOW [--since 7d]`: have production inputs drifted from the eval set?

Exit status: 0 no drift, 1 drift found (inputs shifted, novel inputs, or a rate or router
score changed), 2 a user error (unknown flow, no eval set, no traces, too few runs). A CI job
or cron entry can run it as a check: `stepladder drift support --since 1d || alert`.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from stepladder.cli.app import command
from stepladder.cli.common import print_json, project_for
from stepladder.wording import plural

if TYPE_CHECKING:
    from stepladder.config import Project
    from stepladder.monitor.drift import DriftReport


console = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
DRIFT_DIR = "drift"
SHOWN_CLUSTERS = 5


@command()
def drift(
    flow: Annotated[str, typer.Argument(help="Flow name (in flows/) or path to a flow file.")],
    since: Annotated[
        str | None,
        typer.Option(help="Production runs since: an age (30m, 12h, 7d, 2w) or an ISO time."),
    ] = "7d",
    until: Annotated[
        str | None, typer.Option(help="Production runs before: an age or an ISO time.")
    ] = None,
    evalset: Annotated[
        list[Path] | None,
        typer.Option(
            "--evalset",
            help="Eval spec to compare with (repeatable; default: every spec in evalsets/ "
            "whose `flow:` is FLOW).",
        ),
    ] = None,
    field: Annotated[
        str | None,
        typer.Option(help="Input key whose text is compared (default: all string inputs)."),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Where to write the HTML report (default: .stepladder/drift/...)."),
    ] = None,
    alpha: Annotated[
        float, typer.Option(help="Significance level of every test.", min=1e-6, max=0.5)
    ] = 0.01,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (exit status unchanged).")
    ] = False,
) -> None:
    """Compare recent production inputs of FLOW with its eval set; exit 1 when they drifted.

    Tests the shift of the input embeddings, finds inputs far from every eval case.

    Compares escalation, invalid-output and router-score rates with the traced eval runs.

    Writes an HTML report with plots. Exit status: 0 no drift, 1 drift, 2 a user error.
    """
    from stepladder.monitor.drift import DriftOptions, analyze_drift  # lazy: keeps --help fast
    from stepladder.monitor.drift_report import drift_html  # lazy: keeps --help fast
    from stepladder.monitor.production import parse_since  # lazy: keeps --help fast

    project = project_for(flow)
    options = DriftOptions(
        since=parse_since(since),
        until=parse_since(until, option="--until"),
        evalsets=tuple(evalset or ()),
        field=field,
        alpha=alpha,
    )
    report = analyze_drift(project, flow, options, console=stderr)
    path = html or _default_html(project, report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(drift_html(report), encoding="utf-8")
    if json_output:
        print_json(report.to_json() | {"report": str(path)})
    else:
        show(report)
        stderr.print(f"report: {path}")
    if report.drifted:
        raise typer.Exit(1)


def _default_html(project: Project, report: DriftReport) -> Path:
    stamp = report.created.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return project.state_dir / DRIFT_DIR / f"{report.flow}-{stamp}.html"


def show(report: DriftReport) -> None:
    """Print the verdict, the key numbers, the far clusters and the rate changes."""
    style = "bold red" if report.drifted else "bold green"
    console.print(report.verdict(), style=style, markup=False)
    shift = report.shift
    console.print(
        f"  compared {report.production_runs} production inputs with {report.eval_cases} eval "
        f"cases ({', '.join(report.eval_sets)})",
        markup=False,
    )
    console.print(
        f"  shift: {report.shift_summary()} ({shift.permutations} permutations, "
        f"{shift.reference_n} vs {shift.sample_n})",
        markup=False,
    )
    console.print(
        f"  novelty: {report.far_summary()}; far means a cosine distance above "
        f"{report.novelty.threshold:.3f}",
        markup=False,
    )
    _show_clusters(report)
    _show_rates(report)
    for note in report.notes:
        console.print(f"  note: {note}", style="dim", markup=False)


def _show_clusters(report: DriftReport) -> None:
    if not report.clusters:
        return
    console.print("  far clusters:")
    for index, cluster in enumerate(report.clusters[:SHOWN_CLUSTERS], start=1):
        console.print(
            f"    {index}. {plural(cluster.size, 'input')} ({cluster.share:.1%}), median distance "
            f"{cluster.distance:.3f}; nearest eval case: {_quoted(cluster.nearest_eval)}",
            markup=False,
        )
        for example in cluster.examples:
            console.print(f"         {_quoted(example)}", markup=False)
    hidden = len(report.clusters) - SHOWN_CLUSTERS
    if hidden > 0:
        console.print(f"    ... and {hidden} more in the report", markup=False)


def _show_rates(report: DriftReport) -> None:
    if not report.rates.changes:
        return
    console.print("  rates (eval runs → production):")
    for change in report.rates.changes:
        mark = "  [changed]" if change.flagged else ""
        console.print(f"    {change.describe()}{mark}", markup=False)


def _quoted(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return '"' + (flat if len(flat) <= limit else flat[: limit - 1] + "…") + '"'
