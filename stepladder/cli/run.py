"""`stepladder run FLOW --input JSON|@file.json [--stream] [--thread ID]`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from stepladder.cli.app import command, stderr
from stepladder.cli.common import (
    AdapterOption,
    UseCompiled,
    adapters_by_node,
    load_compiled_flow,
    print_json,
)
from stepladder.cli.inputs import load_json_input
from stepladder.config import Project
from stepladder.config.serving import DEFAULT_MAX_STEPS
from stepladder.errors import FlowInputError
from stepladder.flows import Flow, RunResult, run_flow
from stepladder.flows.project import checkpoint_path, new_thread_id, project_tracing
from stepladder.retrieval import Store
from stepladder.retrieval.store import open_project_store
from stepladder.runtimes import ModelPool
from stepladder.tracing import Tracing
from stepladder.tracing.render import format_cost


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
            help="Checkpoint to SQLite under this id; rerun with it to continue a killed run. "
            "Flows whose ladder reaches `human` get one automatically.",
        ),
    ] = None,
    max_steps: Annotated[
        int,
        typer.Option(
            "--max-steps",
            min=1,
            help="Steps the run may take before it stops (a loop that never exits).",
        ),
    ] = DEFAULT_MAX_STEPS,
    use_compiled: UseCompiled = True,
    adapter: AdapterOption = None,
) -> None:
    """Run a flow and print its final state as JSON."""
    project, compiled = load_compiled_flow(
        flow, prompts=use_compiled, adapters=adapters_by_node(adapter)
    )
    data = parse_input(input)
    if thread is None and compiled.reaches_human:
        thread = new_thread_id(compiled.name)
        stderr.print(
            f"thread {thread} (checkpointed: a node may hand this run to a human reviewer)"
        )
    on_update = _print_update if stream else None
    result = execute(compiled, project, data, thread, on_update, max_steps=max_steps)
    if result.resumed_at and not result.paused:
        unused = " --input was not used." if data is not None else ""
        stderr.print(
            f"resumed thread '{thread}' at {', '.join(result.resumed_at)} "
            f"(completed nodes were not run again).{unused}"
        )
    print_result(result, stream)


def execute(
    flow: Flow,
    project: Project,
    data: dict[str, Any] | None,
    thread: str | None,
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
    resume: Mapping[str, Any] | None = None,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> RunResult:
    """Run (or continue, or answer the reviews of) a project's flow, traced as it asks.

    Raises:
        ThreadConflictError: When another run holds `thread`, or it is another flow's thread.
    """
    store = open_project_store(project) if flow.collections else None
    tracing = project_tracing(project)
    try:
        return asyncio.run(
            _run(flow, project, data, thread, on_update, store, tracing, resume, max_steps)
        )
    finally:
        tracing.shutdown()


def print_result(result: RunResult, stream: bool) -> None:
    """Print the final state (a JSON line with `--stream`), then usage, reviews and trace."""
    if stream:
        final = {"event": "final", "status": result.status, "state": result.state}
        print_json(final | {"usage": result.usage, "trace_id": result.trace_id}, indent=None)
    else:
        print_json(result.state)
    report_usage(result.usage)
    report_reviews(result)
    if result.trace_id:
        stderr.print(f"trace {result.trace_id} (stepladder traces show {result.trace_id[:12]})")


def report_reviews(result: RunResult) -> None:
    """Say what a paused run waits for, and how to answer it."""
    for review in result.reviews:
        stderr.print(
            f"paused: node '{review.node}' awaits human review ({review.reason}: "
            f"{review.detail}). Answer with: stepladder review resolve {result.thread_id} "
            f"--answer '{{...}}' (fields: {', '.join(review.fields)})"
        )


def report_usage(usage: Mapping[str, Any]) -> None:
    """Print a run's model calls, tokens, time and cost (total and per node) on stderr."""
    if not usage.get("calls"):
        return
    by_node = ", ".join(f"{node} {format_cost(usd)}" for node, usd in usage["cost_by_node"].items())
    escalations = f", escalations: {usage['escalations']}" if usage.get("escalations") else ""
    stderr.print(
        f"model calls: {usage['calls']}, tokens in/out/cached: {usage['prompt_tokens']}/"
        f"{usage['completion_tokens']}/{usage['cached_tokens']}, retries: "
        f"{usage['retries']}{escalations}, model time: {usage['seconds']:.2f} s, "
        f"cost: {format_cost(usage['cost_usd'])} ({by_node})"
    )


async def _run(
    flow: Flow,
    project: Project,
    data: dict[str, Any] | None,
    thread: str | None,
    on_update: Callable[[str, dict[str, Any]], None] | None,
    store: Store | None,
    tracing: Tracing,
    resume: Mapping[str, Any] | None,
    max_steps: int,
) -> RunResult:
    async with ModelPool.for_project(project) as models:
        return await run_flow(
            flow,
            data,
            thread_id=thread,
            checkpoint_db=checkpoint_path(project),
            on_update=on_update,
            models=models,
            store=store,
            tracing=tracing,
            resume=resume,
            max_steps=max_steps,
        )


def _print_update(node_id: str, update: dict[str, Any]) -> None:
    print_json({"event": "update", "node": node_id, "update": update}, indent=None)


def parse_input(text: str | None, option: str = "--input") -> dict[str, Any] | None:
    """Read `--input` (or another `option`): JSON text, or `@path` to a JSON file.

    Files are read with bounds (size, UTF-8, nesting depth: see `stepladder.cli.inputs`).

    Raises:
        FlowInputError: If the file cannot be read or the JSON is invalid or not an object.
    """
    if text is None:
        return None
    value, origin = load_json_input(text, option)
    if not isinstance(value, dict):
        raise FlowInputError(f"{origin}: input must be a JSON object, not {type(value).__name__}.")
    return value
