"""`stepladder eval SPEC`, `eval compare BASE CAND [--gate]`, `eval baseline save RUN_ID`.

`stepladder eval SPEC` is short for `stepladder eval run SPEC`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import TextColumn
from typer.core import TyperGroup

from stepladder.cli.app import app, command_in
from stepladder.cli.common import AdapterOption, adapters_by_node, print_json, project_for
from stepladder.wording import plural

if TYPE_CHECKING:
    from stepladder.api import EvalResult, Project
    from stepladder.evalsets.results import CaseResult
    from stepladder.evalsets.runner import PreparedEval

console = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)
PIPE_WIDTH = 1000
"""Width of tables printed to a pipe or file: wide enough that no column is cut."""


def _tables_console() -> Console:
    """The console for tables: the terminal's, or a wide one when stdout is not a terminal.

    Off a terminal rich assumes 80 columns and cuts wide tables (`baseli…`); a script or a
    CI log reading the output wants every column whole.
    """
    if console.is_terminal:
        return console
    return Console(highlight=False, width=PIPE_WIDTH, no_color=console.no_color)


class _RunByDefault(TyperGroup):
    """A group whose first argument, when it is not a subcommand, is `run`'s SPEC."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Read `eval SPEC ...` as `eval run SPEC ...`."""
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


eval_app = typer.Typer(
    cls=_RunByDefault,
    help=(
        "Run eval sets over flows, report quality, cost and latency, compare against a "
        "baseline. `stepladder eval SPEC` is short for `stepladder eval run SPEC`."
    ),
    no_args_is_help=True,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
baseline_app = typer.Typer(help="The baseline a candidate run is compared with.")
eval_app.add_typer(baseline_app, name="baseline")
app.add_typer(eval_app, name="eval")


@command_in(eval_app, "run")
def run(
    spec: Annotated[Path, typer.Argument(help="The eval spec (YAML).")],
    concurrency: Annotated[int | None, typer.Option(help="Cases run at once.", min=1)] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Finish a killed run, given its RUN_ID (not a path), with the options it was "
            "started with (--split, --limit, --tier, --cache, --compiled, --adapter; another "
            "value for one of them is an error). --concurrency may change."
        ),
    ] = None,
    split: Annotated[str | None, typer.Option(help="Run only the cases of this split.")] = None,
    cache: Annotated[
        bool | None, typer.Option("--cache/--no-cache", help="Allow cached model responses.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Run at most this many cases.", min=1)] = None,
    tier: Annotated[
        str | None,
        typer.Option(
            help="Run every model node on this tier (one run per tier trains a router); "
            "`embeddings`: nodes with an embedding classifier answer with it alone."
        ),
    ] = None,
    use_compiled: Annotated[
        bool | None,
        typer.Option(
            "--compiled/--no-compiled",
            help="Load the flow's optimized prompts (prompts/compiled/<flow>.json) if any "
            "(default: on).",
        ),
    ] = None,
    adapter: AdapterOption = None,
    remote: Annotated[
        str | None,
        typer.Option(
            metavar="URL[,URL...]",
            help="Run the cases on these `stepladder serve` replicas (their POST "
            "/flows/FLOW/runs) instead of in this process, in turn; a case whose replica fails "
            "is tried on another. A resumed run uses its own replicas unless given others.",
        ),
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option(
            "--token-env",
            help="Environment variable holding the replicas' API token (default "
            "STEPLADDER_API_TOKEN), sent as 'Authorization: Bearer <token>'.",
        ),
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record/--no-record",
            help="Keep every node call (inputs, outputs, model requests and responses) as "
            "the run's record, .stepladder/records/RUN_ID.json (in Postgres with "
            "state.postgres; default: on).",
        ),
    ] = True,
    replay: Annotated[
        str | None,
        typer.Option(
            metavar="RUN_ID",
            help="Replay a recorded run (its RUN_ID, or a record file): a node call runs only "
            "if the node's spec, compiled prompt, tier model or code, or its inputs, changed; "
            "every other call is served from the record.",
        ),
    ] = None,
    hermetic: Annotated[
        bool,
        typer.Option(
            "--hermetic",
            help="With --replay: a call that is not in the record fails (naming the node and "
            "what changed in its key) instead of running; no model server starts.",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the flow over the eval set's cases and report quality, cost and latency."""
    from stepladder.api import Project  # lazy: keeps --help fast
    from stepladder.evalsets.report import render_summary  # lazy: keeps --help fast

    project = Project(project_for(str(spec)))
    prepared = project.prepare_eval(
        spec, concurrency=concurrency, split=split, limit=limit, cache=cache, tier=tier,
        compiled=use_compiled, adapters=adapters_by_node(adapter), resume=resume,
        remote=remote, token_env=token_env,
    )  # fmt: skip
    result = _execute(project, prepared, record, replay, hermetic)
    if json_output:
        shown = result.summary.model_dump(mode="json")
        print_json(shown | {"replay": result.replay} if result.replay else shown)
    else:
        render_summary(result.summary, _tables_console())
        if result.replay:
            render_replay(result.replay, _tables_console())
    stderr.print(f"eval run {result.run_id}: {result.record.folder}")
    stderr.print(f"report: {result.report}")


def _execute(
    project: Project, prepared: PreparedEval, record: bool, replay: str | None, hermetic: bool
) -> EvalResult:
    """Run a prepared eval through `Project.eval`, with a progress bar on stderr."""
    from stepladder.progress import progress_bar  # lazy: keeps --help fast

    done, total = len(prepared.done), len(prepared.cases)
    if done:
        stderr.print(
            f"resuming {prepared.manifest.run_id}: {done} of {plural(total, 'case')} already done"
        )
    with progress_bar(TextColumn("failed {task.fields[failed]}"), console=stderr) as progress:
        task = progress.add_task(prepared.manifest.eval_name, total=total, completed=done, failed=0)
        failed = 0

        def on_case(result: CaseResult) -> None:
            nonlocal failed
            failed += 0 if result.ok else 1
            progress.update(task, advance=1, failed=failed)

        return project.eval(
            prepared, on_case=on_case, record=record, replay=replay, hermetic=hermetic
        )


def render_replay(replay: dict[str, Any], out: Console) -> None:
    """Per node: calls replayed and run; then the time, cost and model calls saved."""
    from rich.table import Table  # lazy: keeps --help fast

    from stepladder.tracing.render import format_cost  # lazy: keeps --help fast

    table = Table(title=f"replayed from {replay['replayed_from']}", title_justify="left")
    for column in ("node", "replayed", "ran", "model calls", "saved time", "saved cost"):
        table.add_column(column, justify="left" if column == "node" else "right")
    rows = [*replay["nodes"].items(), ("total", replay["total"])]
    for node, counts in rows:
        table.add_row(
            node, str(counts["replayed"]), str(counts["ran"]), str(counts["model_calls"]),
            f"{counts['saved_seconds']:.2f} s", format_cost(counts["saved_cost_usd"]),
        )  # fmt: skip
    out.print(table)


@command_in(eval_app, "compare")
def compare(
    baseline: Annotated[str, typer.Argument(help="Baseline: a run id, a folder, or `baseline`.")],
    candidate: Annotated[str, typer.Argument(help="Candidate: a run id or a folder.")],
    fail_gate: Annotated[
        bool, typer.Option("--gate", help="Exit 1 if quality drops or cost rises too much.")
    ] = False,
    max_cost_increase: Annotated[
        float, typer.Option(help="Largest allowed rise in cost per case (0.10 = 10%).")
    ] = 0.10,
    max_latency_increase: Annotated[
        float | None, typer.Option(help="Largest allowed rise in p50 latency (0.2 = 20%).")
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level of the tests.")] = 0.05,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the comparison as JSON.")
    ] = False,
) -> None:
    """Pair the cases of two runs and test the quality difference; show cost and latency deltas."""
    from stepladder.evalsets.baseline import resolve_run  # lazy: keeps --help fast
    from stepladder.evalsets.run_comparison import (
        compare_runs,
        gate,
        render_comparison,
    )  # lazy: keeps --help fast
    from stepladder.evalsets.run_store import eval_run_store  # lazy: keeps --help fast

    project = project_for()
    runs = eval_run_store(project)
    base = resolve_run(baseline, runs=runs, project_root=project.root)
    cand = resolve_run(candidate, runs=runs, project_root=project.root)
    comparison = compare_runs(base, cand, alpha=alpha)
    if json_output:
        print_json(comparison.model_dump(mode="json"))
    else:
        render_comparison(comparison, _tables_console())
    if not fail_gate:
        return
    failures = gate(
        comparison, max_cost_increase=max_cost_increase, max_latency_increase=max_latency_increase
    )
    for failure in failures:
        stderr.print(f"[bold red]gate:[/] {failure}")
    if failures:
        raise typer.Exit(1)
    stderr.print("[green]gate passed[/]")


@command_in(baseline_app, "save")
def baseline_save(
    run_id: Annotated[str, typer.Argument(help="The run to keep as baseline.")],
) -> None:
    """Keep a run as its eval's baseline, under `evalsets/baselines/` (commit it for CI)."""
    from stepladder.evalsets.baseline import resolve_run, save_baseline  # lazy: keeps --help fast
    from stepladder.evalsets.run_store import eval_run_store  # lazy: keeps --help fast

    project = project_for()
    record = resolve_run(run_id, runs=eval_run_store(project), project_root=project.root)
    path = save_baseline(record, project.root)
    stderr.print(f"baseline of '{record.manifest.eval_name}' saved: {path}")


@command_in(eval_app, "report")
def report(
    run_id: Annotated[str, typer.Argument(help="A run id, a folder, or `baseline`.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Show an eval run's summary again (and rewrite its HTML report)."""
    from stepladder.api.evals import REPORT_FILE  # lazy: keeps --help fast
    from stepladder.evalsets.baseline import resolve_run  # lazy: keeps --help fast
    from stepladder.evalsets.html_report import report_html  # lazy: keeps --help fast
    from stepladder.evalsets.report import render_summary, summarize  # lazy: keeps --help fast
    from stepladder.evalsets.run_store import eval_run_store  # lazy: keeps --help fast
    from stepladder.replay import REPLAY_FILE  # lazy: keeps --help fast

    project = project_for()
    record = resolve_run(run_id, runs=eval_run_store(project), project_root=project.root)
    summary = summarize(record)
    record.folder.mkdir(parents=True, exist_ok=True)
    (record.folder / REPORT_FILE).write_text(report_html(record, summary), encoding="utf-8")
    replayed = record.folder / REPLAY_FILE
    counts = json.loads(replayed.read_text(encoding="utf-8")) if replayed.is_file() else None
    if json_output:
        shown = summary.model_dump(mode="json")
        print_json(shown | {"replay": counts} if counts else shown)
    else:
        render_summary(summary, _tables_console())
        if counts:
            render_replay(counts, _tables_console())
    stderr.print(f"report: {record.folder / REPORT_FILE}")
