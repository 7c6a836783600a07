"""`stepladder tune EVALSPEC --name NAME`: fine-tune a flow's nodes, keep the adapter if better."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stepladder.cli.app import command
from stepladder.cli.common import print_json, project_for
from stepladder.config.tune import LrSchedule

if TYPE_CHECKING:
    from stepladder.optimize.finetune.tune import TuneReport


console = Console(highlight=False)


@command("tune")
def tune_command(
    spec: Annotated[Path, typer.Argument(help="The eval spec whose flow and test split to use.")],
    name: Annotated[str, typer.Option(help="The adapter's name (saved as NAME@vN).")],
    node: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            help="Tune this LLM node (repeatable; default: every LLM node but agents). An "
            "agent trains on cases that label its trajectory and answer (worked tasks).",
        ),
    ] = None,
    tier: Annotated[
        str | None, typer.Option(help="The tier whose base model to tune (default: the nodes').")
    ] = None,
    captures: Annotated[
        list[Path] | None,
        typer.Option("--captures", help="Captured cases (a JSONL file or folder) to train on."),
    ] = None,
    reviews: Annotated[
        Path | None, typer.Option(help="A checkpoint database whose answered reviews train.")
    ] = None,
    eval_cases: Annotated[
        bool, typer.Option(help="Train on the eval's cases outside the test split.")
    ] = True,
    test_split: Annotated[str, typer.Option(help="The held-out split run before/after.")] = "test",
    val_fraction: Annotated[
        float, typer.Option(help="Share of non-test cases that validate.", min=0.0, max=0.9)
    ] = 0.2,
    min_examples: Annotated[
        int, typer.Option(help="The fewest training examples a node needs.", min=1)
    ] = 20,
    compiled: Annotated[
        bool, typer.Option(help="Tune the nodes with their compiled prompts (demos).")
    ] = True,
    rank: Annotated[int | None, typer.Option(help="LoRA rank (tune.rank).", min=1)] = None,
    learning_rate: Annotated[
        float | None, typer.Option(help="Learning rate (tune.learning_rate).")
    ] = None,
    lr_schedule: Annotated[
        LrSchedule | None,
        typer.Option(help="The rate's course over the steps (tune.lr_schedule)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the data.", min=1)] = None,
    max_steps: Annotated[int | None, typer.Option(help="Most optimizer steps.", min=1)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples per step.", min=1)] = None,
    seed: Annotated[int | None, typer.Option(help="The training seed.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for training.", min=1)] = None,
    keep_worse: Annotated[
        bool, typer.Option(help="Save the adapter even when the test split is not better.")
    ] = False,
    concurrency: Annotated[int | None, typer.Option(help="Eval cases at once.", min=1)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fine-tune a flow's LLM nodes (a LoRA on the tier's base model) from the project's data.

    Trains on the eval's cases outside its test split, captured cases and answered reviews;
    runs the test split before and after; saves the adapter as .stepladder/adapters/NAME/vN
    only when it is better. A node then uses it with `adapter: NAME` in the flow. Run the same
    command again after a kill: the training resumes from its last checkpoint.
    """
    from stepladder.evalsets.spec import load_eval_spec  # lazy: keeps --help fast
    from stepladder.flows.project import project_tracing  # lazy: keeps --help fast
    from stepladder.optimize.finetune.tune import TuneOptions, tune  # lazy: keeps --help fast
    from stepladder.runtimes import ModelPool  # lazy: keeps --help fast

    project = project_for(str(spec))
    loaded = load_eval_spec(spec)
    given = {
        "rank": rank,
        "learning_rate": learning_rate,
        "lr_schedule": lr_schedule,
        "epochs": epochs,
        "max_steps": max_steps,
        "batch_size": batch_size,
        "seed": seed,
        "threads": threads,
    }
    options = TuneOptions(
        name=name, nodes=tuple(node or ()), tier=tier, captures=tuple(captures or ()),
        reviews=reviews, use_eval_cases=eval_cases, test_split=test_split,
        val_fraction=val_fraction, min_examples=min_examples, compiled=compiled,
        settings={key: value for key, value in given.items() if value is not None},
        concurrency=concurrency, keep_worse=keep_worse,
    )  # fmt: skip
    models = ModelPool.for_project(project)
    tracing = project_tracing(project)
    logging.getLogger("dspy").setLevel(logging.WARNING)
    try:  # libraries print notes on stdout: they go to stderr, keeping stdout for the report
        with contextlib.redirect_stdout(sys.stderr):
            report = tune(project, loaded, options, models, tracing)
    finally:
        tracing.shutdown()
        models.close()
    if json_output:
        print_json(_as_json(report))
        return
    _render(report)


def _render(report: TuneReport) -> None:
    from stepladder.evalsets.run_comparison import render_comparison  # lazy: keeps --help fast

    training = report.training
    table = Table(title=f"tune {report.flow} on tier '{report.tier}'", show_header=False)
    table.add_row("nodes", ", ".join(report.nodes))
    table.add_row("examples", f"{report.data['train']} train, {report.data['validation']} "
                  f"validation (data {report.data['data_hash'][:12]})")  # fmt: skip
    losses = training.validation_loss
    loss = f", validation loss {losses[0][1]:.3f} -> {losses[-1][1]:.3f}" if losses else ""
    table.add_row("training", f"{training.steps} steps ({training.stopped}){loss}, "
                  f"{training.seconds:.0f} s, peak {training.peak_rss_gb:.2f} GB")  # fmt: skip
    table.add_row("saved", report.saved.label if report.saved else _not_saved(report))
    table.add_row("time", f"{report.seconds:.0f} s")
    console.print(table)
    console.print(f"test split, before ({report.before.manifest.run_id}) and after "
                  f"({report.after.manifest.run_id}):")  # fmt: skip
    render_comparison(report.comparison, console)
    if report.saved:
        console.print(f"use it: `adapter: {report.saved.manifest.name}` on the node(s) "
                      f"{', '.join(report.nodes)} in the flow")  # fmt: skip


def _not_saved(report: TuneReport) -> str:
    reasons = "; ".join(report.failures)
    return f"no: {reasons} (--keep-worse saves it anyway)"


def _as_json(report: TuneReport) -> dict[str, Any]:
    training = report.training
    return {
        "flow": report.flow, "nodes": list(report.nodes), "tier": report.tier,
        "data": report.data, "steps": training.steps, "stopped": training.stopped,
        "train_loss": training.train_loss, "validation_loss": training.validation_loss,
        "train_seconds": round(training.seconds, 1), "peak_rss_gb": training.peak_rss_gb,
        "better": report.better, "failures": list(report.failures),
        "saved": report.saved.label if report.saved else None,
        "before_run": report.before.manifest.run_id, "after_run": report.after.manifest.run_id,
        "comparison": report.comparison.model_dump(mode="json"),
        "seconds": round(report.seconds, 1),
    }  # fmt: skip
