"""`stepladder optimize EVALSPEC`: tune a flow's prompts with DSPy, save them, measure them."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, TaskID, TextColumn
from rich.table import Table

from stepladder.cli.app import command
from stepladder.cli.common import print_json, project_for
from stepladder.optimize.optimizer_names import OPTIMIZERS
from stepladder.wording import plural

if TYPE_CHECKING:
    from stepladder.optimize.flow_program import Spend
    from stepladder.optimize.prompts import OptimizeReport


console = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


class _Phases:
    """The rich progress of an optimization: one bar per phase, the spend alongside."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def start(self, phase: str, total: int | None) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total or 0)
        self.task = self.progress.add_task(phase, total=total, spent="")

    def advance(self, spend: Spend | None = None) -> None:
        if self.task is None:
            return
        spent = ""
        if spend is not None:
            summary = spend.summary()
            spent = f"{plural(summary['calls'], 'call')}, ${summary['cost_usd']:.5f}"
        self.progress.update(self.task, advance=1, spent=spent)


@command("optimize")
def optimize_command(
    spec: Annotated[Path, typer.Argument(help="The eval spec whose flow and metrics to use.")],
    optimizer: Annotated[
        str, typer.Option(help=f"The DSPy optimizer: {', '.join(OPTIMIZERS)}.")
    ] = "bootstrap",
    teacher: Annotated[
        str | None,
        typer.Option(
            help="A stronger tier that runs the flow to find demos (finetune: whose answers "
            "train; without one, the eval's gold labels do)."
        ),
    ] = None,
    tier: Annotated[
        str | None, typer.Option(help="Run every model node on this tier alone (no ladder).")
    ] = None,
    node: Annotated[
        list[str] | None, typer.Option("--node", help="Tune only this LLM node (repeatable).")
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="Optimize this metric of the eval (default: their mean).")
    ] = None,
    test_split: Annotated[str, typer.Option(help="The held-out split run before/after.")] = "test",
    val_fraction: Annotated[
        float, typer.Option(help="Share of non-test cases that validate.", min=0.05, max=0.95)
    ] = 0.5,
    seed: Annotated[int, typer.Option(help="The seed of the split and the optimizer.")] = 0,
    max_train: Annotated[int | None, typer.Option(help="Use at most N train cases.", min=1)] = None,
    max_val: Annotated[
        int | None, typer.Option(help="Use at most N validation cases.", min=1)
    ] = None,
    max_demos: Annotated[int, typer.Option(help="Bootstrapped demos per node.", min=0)] = 4,
    max_labeled: Annotated[
        int, typer.Option(help="Labelled demos per node (DSPy default).", min=0)
    ] = 16,
    candidates: Annotated[
        int,
        typer.Option(
            help="bootstrap: demo sets tried besides zero-shot and labelled-only, the best on "
            "validation kept (0: one set, no search).",
            min=0,
        ),
    ] = 4,
    keep_worse: Annotated[
        bool, typer.Option(help="Save the prompts even when they score lower on validation.")
    ] = False,
    max_calls: Annotated[
        int | None, typer.Option(help="Stop before the optimization passes N model calls.", min=1)
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option(help="Stop before the optimization passes this many USD.")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Flow runs at once.", min=1)] = None,
    name: Annotated[
        str | None,
        typer.Option(help="finetune: the adapter's name, saved as NAME@vN (default FLOW-NODES)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Tune a flow's prompts against its eval; save them; compare the test split before/after.

    The optimized prompts go to prompts/compiled/<flow>.json, which the flow then loads.
    `--optimizer finetune` trains a LoRA adapter instead (DSPy's BootstrapFinetune, `tune:`
    settings from stepladder.yaml), saved as NAME@vN: a node uses it with `adapter: NAME`.
    """
    from stepladder.evalsets.spec import load_eval_spec  # lazy: keeps --help fast
    from stepladder.flows.project import project_tracing  # lazy: keeps --help fast
    from stepladder.optimize.prompts import OptimizeOptions, optimize  # lazy: keeps --help fast
    from stepladder.progress import progress_bar  # lazy: keeps --help fast
    from stepladder.runtimes import ModelPool  # lazy: keeps --help fast

    project = project_for(str(spec))
    loaded = load_eval_spec(spec)
    options = OptimizeOptions(
        optimizer=optimizer, teacher=teacher, tier=tier, nodes=tuple(node or ()), metric=metric,
        test_split=test_split, val_fraction=val_fraction, seed=seed, max_train=max_train,
        max_val=max_val, max_demos=max_demos, max_labeled=max_labeled, max_calls=max_calls,
        max_cost_usd=max_cost, concurrency=concurrency, candidates=candidates,
        keep_worse=keep_worse, name=name,
    )  # fmt: skip
    models = ModelPool.for_project(project)
    tracing = project_tracing(project)
    logging.getLogger("dspy").setLevel(logging.WARNING)
    bar = progress_bar(TextColumn("{task.fields[spent]}"), console=stderr)
    try:  # DSPy prints its notes on stdout: they go to stderr, keeping stdout for the report
        with bar as progress, contextlib.redirect_stdout(sys.stderr):
            report = optimize(project, loaded, options, models, _Phases(progress), tracing)
    finally:
        tracing.shutdown()
    if json_output:
        print_json(_as_json(report))
        return
    _render(report)


def _render(report: OptimizeReport) -> None:
    from stepladder.evalsets.run_comparison import render_comparison  # lazy: keeps --help fast

    table = Table(title=f"optimize {report.flow} ({report.optimizer})", show_header=False)
    table.add_row("nodes", ", ".join(report.nodes))
    table.add_row("splits", report.splits)
    table.add_row("validation", f"{report.validation_before:.3f} -> {report.validation_after:.3f}")
    spent = report.spent
    table.add_row(
        "spent",
        f"{spent['flow_runs']} flow runs, {spent['calls']} model calls, "
        f"{spent['prompt_tokens']} + {spent['completion_tokens']} tokens, "
        f"${spent['cost_usd']:.5f}",
    )
    table.add_row("time", f"{report.seconds:.0f} s")
    table.add_row("saved", _saved(report))
    console.print(table)
    if report.after is None or report.comparison is None:
        console.print(f"test split, before: {report.before.manifest.run_id} (not run after: "
                      "nothing was saved)")  # fmt: skip
        return
    console.print(f"test split, before ({report.before.manifest.run_id}) and after "
                  f"({report.after.manifest.run_id}):")  # fmt: skip
    render_comparison(report.comparison, console)


def _saved(report: OptimizeReport) -> str:
    if report.adapter is not None:
        return f"adapter {report.adapter} (use it with `adapter: {report.adapter}` on the nodes)"
    return str(report.compiled) if report.compiled else _NOT_SAVED


_NOT_SAVED = (
    "no: the optimized prompts scored lower on validation than the flow as it runs now "
    "(--keep-worse saves them anyway)"
)


def _as_json(report: OptimizeReport) -> dict[str, Any]:
    return {
        "flow": report.flow, "optimizer": report.optimizer, "nodes": list(report.nodes),
        "splits": report.splits, "validation_before": report.validation_before,
        "validation_after": report.validation_after, "spent": report.spent,
        "seconds": round(report.seconds, 1), "saved": report.saved,
        "compiled": str(report.compiled) if report.compiled else None,
        "adapter": report.adapter,
        "before_run": report.before.manifest.run_id,
        "after_run": report.after.manifest.run_id if report.after else None,
        "comparison": report.comparison.model_dump(mode="json") if report.comparison else None,
    }  # fmt: skip
