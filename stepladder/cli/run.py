"""`stepladder run FLOW --input JSON|@file.json [--stream] [--thread ID]`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stepladder.cli.app import command, stderr
from stepladder.cli.common import (
    AdapterOption,
    UseCompiled,
    adapters_by_node,
    print_json,
    project_for,
)
from stepladder.cli.inputs import load_json_input
from stepladder.config.serving import DEFAULT_MAX_STEPS
from stepladder.errors import FlowInputError

if TYPE_CHECKING:
    from stepladder.config import Project as ProjectConfig
    from stepladder.flows import Flow, RunResult


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
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Keep every node call (inputs, outputs, model requests and responses) as a "
            "record where runs are kept: .stepladder/records/, or Postgres with state.postgres "
            "(its id is printed).",
        ),
    ] = False,
    replay: Annotated[
        str | None,
        typer.Option(
            metavar="RUN_ID",
            help="Serve node calls from a recorded run (its RUN_ID, or a record file) when "
            "the node and its inputs are unchanged.",
        ),
    ] = None,
    hermetic: Annotated[
        bool,
        typer.Option("--hermetic", help="With --replay: a call not in the record fails."),
    ] = False,
) -> None:
    """Run a flow and print its final state as JSON."""
    from stepladder.api import Project  # lazy: keeps --help fast
    from stepladder.flows.project import new_thread_id  # lazy: keeps --help fast
    from stepladder.replay import replay_session  # lazy: keeps --help fast

    project = Project(project_for(flow))
    session = None
    if record or replay is not None or hermetic:
        session = replay_session(project.config, record=record, replay=replay, hermetic=hermetic)
    compiled = project.flow(flow, compiled=use_compiled, adapters=adapters_by_node(adapter))
    data = parse_input(input)
    if thread is None and compiled.reaches_human:
        thread = new_thread_id(compiled.name)
        stderr.print(
            f"thread {thread} (checkpointed: a node may hand this run to a human reviewer)"
        )
    on_update = _print_update if stream else None
    result = project.run(
        compiled, data, thread=thread, on_update=on_update, max_steps=max_steps, replay=session
    )
    if session is not None and session.saved_run is not None:
        stderr.print(f"record {session.saved_run}: {session.saved or session.saved_where}")
    if result.resumed_at and not result.paused:
        unused = " --input was not used." if data is not None else ""
        stderr.print(
            f"resumed thread '{thread}' at {', '.join(result.resumed_at)} "
            f"(completed nodes were not run again).{unused}"
        )
    print_result(result, stream)


def execute(
    flow: Flow,
    project: ProjectConfig,
    data: dict[str, Any] | None,
    thread: str | None,
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
    resume: Mapping[str, Any] | None = None,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> RunResult:
    """Run (or continue, or answer the reviews of) a project's flow, through `Project.run`.

    Raises:
        ThreadConflictError: When another run holds `thread`, or it is another flow's thread.
    """
    from stepladder.api import Project  # lazy: keeps --help fast

    return Project(project).run(
        flow, data, thread=thread, resume=resume, on_update=on_update, max_steps=max_steps
    )


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
    from stepladder.tracing.render import format_cost  # lazy: keeps --help fast

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
