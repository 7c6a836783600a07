"""`stepladder review list|resolve`: cases that nodes handed to a person.

A node whose ladder reaches `human` pauses its (checkpointed) run; the pending review is kept
in the project's checkpoint database. `resolve` answers it with the node's output fields and
continues the run from that node (nodes that finished are not run again).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stepladder.cli.app import app, command_in
from stepladder.cli.common import print_json, project_for
from stepladder.cli.run import execute, parse_input, print_result
from stepladder.errors import FlowInputError, UserError

if TYPE_CHECKING:
    from stepladder.flows import PendingReview


__all__ = ["check_answer", "list_reviews", "resolve"]

review_app = typer.Typer(
    help="Cases handed to a person by a node's ladder: list them, answer them.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")
console = Console(highlight=False)
PREVIEW = 60


@command_in(review_app, "list")
def list_reviews(
    flow: Annotated[str | None, typer.Option(help="Only reviews of this flow.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per review instead of a table.")
    ] = False,
) -> None:
    """Show the pending reviews: thread, flow, node, reason, when, candidate."""
    from stepladder.flows.project import checkpoint_path  # lazy: keeps --help fast
    from stepladder.flows.reviews import load_reviews  # lazy: keeps --help fast

    project = project_for()
    postgres = project.settings.state.postgres
    pending = load_reviews(checkpoint_path(project), postgres=postgres)
    reviews = [r for r in pending if flow in (None, r.flow)]
    if as_json:
        for review in reviews:
            print_json(review.__dict__, indent=None)
        return
    if not reviews:
        console.print("no pending reviews")
        return
    table = Table()
    table.add_column("thread", no_wrap=True)
    table.add_column("flow")
    table.add_column("node")
    table.add_column("reason")
    table.add_column("when", no_wrap=True)
    table.add_column("candidate", overflow="ellipsis")
    for review in reviews:
        when = review.asked_at.replace("T", " ")[:16]
        table.add_row(
            review.thread_id, review.flow, review.node, review.reason, when,
            _preview(review.candidate),
        )  # fmt: skip
    console.print(table)


@command_in(review_app, "resolve")
def resolve(
    thread: Annotated[str, typer.Argument(help="The paused run's thread (see `review list`).")],
    answer: Annotated[
        str,
        typer.Option("--answer", "-a", help="The node's output fields as JSON, or @file.json."),
    ],
    node: Annotated[
        str | None, typer.Option(help="The node to answer, when several wait on the thread.")
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print each node's update as a JSON line.")
    ] = False,
) -> None:
    """Answer a pending review and continue its run; print the final state as JSON."""
    from stepladder.flows import compile_project_flow  # lazy: keeps --help fast
    from stepladder.flows.project import checkpoint_path  # lazy: keeps --help fast
    from stepladder.flows.reviews import load_reviews  # lazy: keeps --help fast

    project = project_for()
    postgres = project.settings.state.postgres
    review = _pick(load_reviews(checkpoint_path(project), thread, postgres=postgres), thread, node)
    value = parse_input(answer, option="--answer") or {}
    check_answer(review, value)
    flow = compile_project_flow(project, review.source or review.flow)
    on_update = _print_update if stream else None
    result = execute(flow, project, None, thread, on_update, {review.interrupt_id: value})
    print_result(result, stream)


def _pick(reviews: list[PendingReview], thread: str, node: str | None) -> PendingReview:
    if not reviews:
        raise UserError(
            f"thread '{thread}' has no pending review. See the pending ones with "
            "`stepladder review list`."
        )
    if node is not None:
        for review in reviews:
            if review.node == node:
                return review
        waiting = ", ".join(r.node for r in reviews)
        raise UserError(f"--node {node}: no review of that node on thread '{thread}' ({waiting}).")
    if len(reviews) > 1:
        waiting = ", ".join(r.node for r in reviews)
        raise UserError(f"thread '{thread}' has several pending reviews ({waiting}); add --node.")
    return reviews[0]


def check_answer(review: PendingReview, answer: dict[str, Any]) -> None:
    """Check an answer's keys against the node's output fields (types are checked on resume).

    Raises:
        FlowInputError: Naming the unknown or missing fields, and listing the fields.
    """
    unknown, missing = review.answer_keys(answer)
    problems = []
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}")
    if missing:
        problems.append(f"missing field(s) {', '.join(missing)}")
    if problems:
        raise FlowInputError(
            f"--answer: {'; '.join(problems)}. Node '{review.node}' answers with: "
            f"{', '.join(review.fields)}."
        )


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def _print_update(node_id: str, update: dict[str, Any]) -> None:
    print_json({"event": "update", "node": node_id, "update": update}, indent=None)
