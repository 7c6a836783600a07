"""`stepladder traces list|show|html`: look at the runs in the project's trace store.

That is `.stepladder/traces/`, or the Postgres database of `state.postgres` when it is set.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from stepladder.cli.app import app, command_in
from stepladder.cli.common import project_for

if TYPE_CHECKING:
    from stepladder.tracing.store import TraceStore, TraceSummary


traces_app = typer.Typer(
    help="Inspect traced runs: list them, show one as a tree, or write it as an HTML page.",
    no_args_is_help=True,
)
app.add_typer(traces_app, name="traces")
console = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


class StatusFilter(StrEnum):
    """How a traced run ended."""

    ok = "ok"
    error = "error"
    incomplete = "incomplete"


def _store() -> TraceStore:
    from stepladder.flows.project import trace_store  # lazy: keeps --help fast

    store = trace_store(project_for()).load()
    if store.malformed_lines:
        where = store.source or f"{store.folder}/*.jsonl"
        stderr.print(f"[yellow]skipped {store.malformed_lines} malformed line(s)[/] in {where}")
    return store


@command_in(traces_app, "list")
def list_traces(
    flow: Annotated[str | None, typer.Option(help="Only runs of this flow.")] = None,
    status: Annotated[StatusFilter | None, typer.Option(help="Only runs that ended so.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many runs.")] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per run instead of a table.")
    ] = False,
) -> None:
    """List recent runs, newest first: status, duration, tokens, cost and escalations."""
    store = _store()
    summaries = [
        summary
        for summary in store.summaries()
        if (flow is None or summary.flow == flow)
        and (status is None or summary.status == status.value)
    ][:limit]
    if as_json:
        for summary in summaries:
            sys.stdout.write(json.dumps(summary.to_json(), ensure_ascii=False) + "\n")
        return
    if not summaries:
        found = "no traced runs match" if store.traces else "no traces yet"
        console.print(f"{found} in {store.where}: run a flow with `stepladder run`")
        return
    console.print(_table(summaries))


@command_in(traces_app, "show")
def show(
    trace_id: Annotated[str, typer.Argument(help="A trace id, or enough of its start.")],
) -> None:
    """Show one run's spans as a tree: timing, tier, model, tokens, cost and errors."""
    from stepladder.tracing.render import trace_tree  # lazy: keeps --help fast

    console.print(trace_tree(_store().find(trace_id)))


@command_in(traces_app, "html")
def html(
    trace_id: Annotated[str, typer.Argument(help="A trace id, or enough of its start.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write (default: <traces>/html/<id>.html; with Postgres, "
            "<state_dir>/trace-pages/<id>.html).",
        ),
    ] = None,
) -> None:
    """Write one run as a self-contained HTML page (a waterfall of its spans)."""
    from stepladder.tracing.html import trace_html  # lazy: keeps --help fast

    store = _store()
    trace = store.find(trace_id)
    path = output or store.pages_folder / f"{trace.trace_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(trace_html(trace), encoding="utf-8")
    typer.echo(str(path))


def _table(summaries: list[TraceSummary]) -> Table:
    from stepladder.tracing.render import (
        STATUS_STYLES,
        format_cost,
        format_duration,
    )  # lazy: keeps --help fast

    table = Table(
        title="traced runs, newest first (times in UTC)",
        box=None,
        padding=(0, 1, 0, 0),
        header_style="bold underline",
    )
    table.add_column("trace", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("flow", min_width=6, overflow="ellipsis", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("duration", "tokens", "cost", "esc."):
        table.add_column(column, justify="right", no_wrap=True)
    for summary in summaries:
        table.add_row(
            summary.trace_id[:12],
            f"{summary.started:%m-%d %H:%M:%S}",
            summary.flow or "-",
            f"[{STATUS_STYLES[summary.status]}]{summary.status}[/]",
            format_duration(summary.duration_ns),
            f"{summary.input_tokens:,}/{summary.output_tokens:,}",
            format_cost(summary.cost_usd),
            str(summary.escalations),
        )
    return table
