"""`stepladder run FLOW --input JSON|@file.json [--stream] [--thread ID]`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from stepladder.cli.app import command, stderr
from stepladder.cli.common import load_compiled_flow, print_json
from stepladder.config import Project
from stepladder.errors import FlowInputError
from stepladder.flows import Flow, RunResult, run_flow
from stepladder.retrieval import Store
from stepladder.retrieval.store import open_project_store
from stepladder.runtimes import ModelPool
from stepladder.tracing import Tracing
from stepladder.tracing.render import format_cost

CHECKPOINT_FILE = "checkpoints.sqlite"


@command()
def run(
    flow: Annotated[str, typer.Argument(help="Flow name (in flows/) or path to a flow file.")],
    input: Annotated[
        str | None,
        typer.Option("--input", "-i", help="Input as JSON, or @file.json."),
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print each node's update as a JSON line.")
    ] = False,
    thread: Annotated[
        str | None,
        typer.Option(
            "--thread",
            help="Checkpoint to SQLite under this id; rerun with it to continue a killed run.",
        ),
    ] = None,
) -> None:
    """Run a flow and print its final state as JSON."""
    project, compiled = load_compiled_flow(flow)
    data = parse_input(input)
    on_update = _print_update if stream else None
    checkpoint_db = project.state_dir / CHECKPOINT_FILE
    store = open_project_store(project) if compiled.collections else None
    tracing = project_tracing(project)
    try:
        result = asyncio.run(
            _run(compiled, project, data, thread, checkpoint_db, on_update, store, tracing)
        )
    finally:
        tracing.shutdown()
    if result.resumed_at:
        unused = " --input was not used." if data is not None else ""
        stderr.print(
            f"resumed thread '{thread}' at {', '.join(result.resumed_at)} "
            f"(completed nodes were not run again).{unused}"
        )
    if stream:
        final = {"event": "final", "state": result.state, "usage": result.usage}
        print_json(final | {"trace_id": result.trace_id}, indent=None)
    else:
        print_json(result.state)
    report_usage(result.usage)
    if result.trace_id:
        stderr.print(f"trace {result.trace_id} (stepladder traces show {result.trace_id[:12]})")


def report_usage(usage: Mapping[str, Any]) -> None:
    """Print a run's model calls, tokens, time and cost (total and per node) on stderr."""
    if not usage.get("calls"):
        return
    by_node = ", ".join(f"{node} {format_cost(usd)}" for node, usd in usage["cost_by_node"].items())
    stderr.print(
        f"model calls: {usage['calls']}, tokens in/out/cached: {usage['prompt_tokens']}/"
        f"{usage['completion_tokens']}/{usage['cached_tokens']}, retries: "
        f"{usage['retries']}, model time: {usage['seconds']:.2f} s, "
        f"cost: {format_cost(usage['cost_usd'])} ({by_node})"
    )


async def _run(
    flow: Flow,
    project: Project,
    data: dict[str, Any] | None,
    thread: str | None,
    checkpoint_db: Path,
    on_update: Callable[[str, dict[str, Any]], None] | None,
    store: Store | None,
    tracing: Tracing,
) -> RunResult:
    settings = project.settings
    async with ModelPool(settings.tiers, prices=settings.prices) as models:
        return await run_flow(
            flow,
            data,
            thread_id=thread,
            checkpoint_db=checkpoint_db,
            on_update=on_update,
            models=models,
            store=store,
            tracing=tracing,
        )


def project_tracing(project: Project) -> Tracing:
    """Tracing as the project's settings ask (JSONL under the state folder, OTLP if set)."""
    settings = project.settings
    return Tracing.for_project(settings.tracing, project.state_dir, settings.name)


def _print_update(node_id: str, update: dict[str, Any]) -> None:
    print_json({"event": "update", "node": node_id, "update": update}, indent=None)


def parse_input(text: str | None) -> dict[str, Any] | None:
    """Read `--input`: JSON text, or `@path` to a JSON file.

    Raises:
        FlowInputError: If the file is missing or the JSON is invalid.
    """
    if text is None:
        return None
    origin = "--input"
    if text.startswith("@"):
        file = Path(text[1:])
        origin = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as error:
            raise FlowInputError(f"--input {file}: cannot read input file: {error}.") from error
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise FlowInputError(
            f"{origin}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}). "
            'Give a JSON object like \'{"text": "hello"}\' or @file.json.'
        ) from error
    if not isinstance(value, dict):
        raise FlowInputError(f"{origin}: input must be a JSON object, not {type(value).__name__}.")
    return value
