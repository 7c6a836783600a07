"""Labelled rows from answered human reviews, read from the project's checkpoint database.

A node whose ladder reaches `human` pauses its run with LangGraph's `interrupt`; the payload
(node, flow, the node's reads, the output schema) is stored as the `__interrupt__` write of
the paused checkpoint, and the reviewer's answer (`stepladder review resolve`, or the HTTP
service) as its `__resume__` write. Each answered interrupt is one row for its node: the
reads it was asked about and the answer. Reviews still waiting are skipped and counted.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from stepladder.errors import UserError
from stepladder.flows import Flow
from stepladder.optimize.finetune.examples import input_hash
from stepladder.optimize.finetune.rows import LabelledRow, Rows

__all__ = ["review_rows"]

# LangGraph's channel names for an interrupt and its answer (langgraph._internal._constants).
INTERRUPT_WRITE, RESUME_WRITE = "__interrupt__", "__resume__"
UNANSWERED = "human reviews not answered yet"


def review_rows(flow: Flow, db: Path, nodes: Sequence[str]) -> Rows:
    """The answered reviews of `nodes` of `flow` in the checkpoint database `db`.

    Raises:
        UserError: When `db` is not a file.
    """
    if not db.is_file():
        raise UserError(
            f"human reviews: no checkpoint database at {db} (runs paused for review keep "
            "their checkpoints in the project's `.stepladder/checkpoints.sqlite`)."
        )
    input_keys = [key for key, spec in flow.spec.state.items() if spec.input]
    found = Rows()
    asked: dict[tuple[str, str], tuple[Any, Any, dict[str, Any]]] = {}
    for thread, values, writes in _checkpoints(db):
        for interrupt, answer in _answered(writes):
            payload = interrupt.value if isinstance(interrupt.value, dict) else {}
            if payload.get("flow") != flow.name or payload.get("node") not in nodes:
                continue
            key = (thread, str(interrupt.id))
            if key not in asked or answer is not None:
                asked[key] = (payload, answer, values)
    oldest_first = sorted(
        asked.items(), key=lambda item: (str(item[1][0].get("asked_at")), item[0])
    )
    for (thread, interrupt_id), (payload, answer, values) in oldest_first:
        if answer is None:
            found.skipped[UNANSWERED] += 1
            continue
        inputs = {key: values[key] for key in input_keys if key in values}
        short = interrupt_id[:12]
        found.rows.append(
            LabelledRow(
                kind="review",
                source=f"review:{thread}#{short}",
                where=f"review of node '{payload['node']}' on thread '{thread}' "
                f"(interrupt {short}, asked {payload.get('asked_at') or '?'})",
                split="train",
                inputs=inputs,
                gold=dict(answer) if isinstance(answer, dict) else {},
                input_hash=input_hash(inputs),
                node=str(payload["node"]),
                reads=dict(payload.get("inputs") or {}),
            )
        )
    return found


def _checkpoints(db: Path) -> Iterator[tuple[str, dict[str, Any], list[tuple[str, str, Any]]]]:
    """Each checkpoint of the root graph: its thread, its state values and its writes."""
    # Lazy: the SQLite checkpointer is only needed when reviews are a source.
    from langgraph.checkpoint.sqlite import SqliteSaver

    with closing(sqlite3.connect(db, check_same_thread=False)) as connection:
        saver = SqliteSaver(connection)
        for item in saver.list(None):
            configurable = item.config.get("configurable", {})
            if configurable.get("checkpoint_ns"):
                continue
            values = dict(item.checkpoint.get("channel_values") or {})
            yield str(configurable.get("thread_id")), values, list(item.pending_writes or [])


def _answered(writes: Sequence[tuple[str, str, Any]]) -> Iterator[tuple[Any, Any]]:
    """Each interrupt of a checkpoint with its answer (None while it waits), per task."""
    interrupts: dict[str, list[Any]] = defaultdict(list)
    answers: dict[str, list[Any]] = defaultdict(list)
    for task, channel, value in writes:
        if channel == INTERRUPT_WRITE:
            interrupts[task].extend(value if isinstance(value, list | tuple) else [value])
        elif channel == RESUME_WRITE:
            answers[task].extend(value if isinstance(value, list) else [value])
    for task, asked in interrupts.items():
        given = answers.get(task, [])
        for index, interrupt in enumerate(asked):
            yield interrupt, given[index] if index < len(given) else None
