"""Pending human reviews: runs paused at a node's `human` rung, kept beside the checkpoints.

A paused run's checkpoint holds everything needed to resume it; this table (in the same
SQLite file, `stepladder_reviews`) lists what waits, so `stepladder review list` need not
read every thread's checkpoints. `run_flow` rewrites a thread's rows each time it ends.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

__all__ = [
    "PendingReview",
    "dump_review",
    "load_review",
    "load_reviews",
    "open_table",
    "pending_nodes",
    "save_reviews",
]

_TABLE = "stepladder_reviews"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    thread_id TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    source TEXT,
    node TEXT NOT NULL,
    asked_at TEXT,
    payload TEXT NOT NULL,
    PRIMARY KEY (thread_id, interrupt_id)
)
"""


@dataclass(frozen=True)
class PendingReview:
    """A case a node handed to a person, waiting for an answer.

    Attributes:
        thread_id: The checkpoint thread of the paused run.
        interrupt_id: LangGraph's id of the interrupt (answers are keyed by it).
        flow: The flow's name.
        node: The node that asked.
        reason: Why it escalated (`invalid`, `confidence`, `verifier`, `router`).
        detail: The trigger's detail (say, `confidence 0.41 < 0.8`).
        asked_at: When (ISO 8601, UTC).
        inputs: The node's reads.
        candidate: The last rung's output (values, or the raw text when invalid), if any.
        candidate_tier: The rung that produced the candidate.
        schema: The JSON Schema of the answer (the node's output fields).
        source: The flow file, when the flow came from one.
    """

    thread_id: str | None
    interrupt_id: str
    flow: str
    node: str
    reason: str = ""
    detail: str = ""
    asked_at: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    candidate: Any = None
    candidate_tier: str | None = None
    schema: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @classmethod
    def from_interrupt(
        cls, interrupt: Any, thread_id: str | None, flow: str, source: str | None
    ) -> PendingReview:
        """Read a LangGraph `Interrupt` (a node's hand-off payload, or any other value)."""
        value = interrupt.value
        payload: dict[str, Any] = value if isinstance(value, dict) else {"detail": value}
        return cls(
            thread_id=thread_id,
            interrupt_id=str(interrupt.id),
            flow=str(payload.get("flow") or flow),
            node=str(payload.get("node") or ""),
            reason=str(payload.get("reason") or ""),
            detail=str(payload.get("detail") or ""),
            asked_at=str(payload.get("asked_at") or ""),
            inputs=dict(payload.get("inputs") or {}),
            candidate=payload.get("candidate"),
            candidate_tier=payload.get("candidate_tier"),
            schema=dict(payload.get("schema") or interrupt.response_schema or {}),
            source=source,
        )

    @property
    def fields(self) -> list[str]:
        """The answer's fields, as `name (type)`."""
        properties = self.schema.get("properties") or {}
        return [f"{name} ({_type_of(spec)})" for name, spec in properties.items()]

    def answer_keys(self, answer: dict[str, Any]) -> tuple[list[str], list[str]]:
        """An answer's keys that are not output fields, and the required fields it lacks.

        Both are empty when the node's fields are unknown (its values are checked on resume).
        """
        properties = self.schema.get("properties") or {}
        if not properties:
            return [], []
        unknown = sorted(set(answer) - set(properties))
        missing = [key for key in self.schema.get("required", []) if key not in answer]
        return unknown, missing


def _type_of(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        return "one of " + "|".join(str(v) for v in spec["enum"])
    if "anyOf" in spec:
        return " or ".join(_type_of(option) for option in spec["anyOf"])
    return str(spec.get("type", "any"))


def save_reviews(
    db: Path, thread_id: str, reviews: Iterable[PendingReview], *, postgres: str | None = None
) -> None:
    """Make `reviews` the thread's pending reviews (none: the thread waits for nothing).

    With `postgres` (the project's `state.postgres`) they are kept there instead of `db`.
    """
    if postgres is not None:
        from stepladder.state import postgres as postgres_state  # lazy: optional extra

        rows = [
            (thread_id, r.interrupt_id, r.flow, r.source, r.node, r.asked_at, dump_review(r))
            for r in reviews
        ]
        postgres_state.save_review_rows(postgres, thread_id, rows)
        return
    with open_table(db, _SCHEMA) as connection:
        connection.execute(f"DELETE FROM {_TABLE} WHERE thread_id = ?", (thread_id,))
        connection.executemany(
            f"INSERT INTO {_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (thread_id, r.interrupt_id, r.flow, r.source, r.node, r.asked_at, dump_review(r))
                for r in reviews
            ],
        )


def load_reviews(
    db: Path, thread_id: str | None = None, *, postgres: str | None = None
) -> list[PendingReview]:
    """The pending reviews (of one thread, or all), oldest first (from `postgres` if set)."""
    if postgres is not None:
        from stepladder.state import postgres as postgres_state  # lazy: optional extra

        found = postgres_state.load_review_rows(postgres, thread_id)
        return [load_review(*row) for row in found]
    if not db.is_file():
        return []
    with open_table(db, _SCHEMA) as connection:
        where, arguments = ("WHERE thread_id = ?", (thread_id,)) if thread_id else ("", ())
        rows = connection.execute(
            f"SELECT thread_id, interrupt_id, payload FROM {_TABLE} {where} "
            "ORDER BY asked_at, thread_id",
            arguments,
        ).fetchall()
    return [load_review(thread, interrupt, payload) for thread, interrupt, payload in rows]


@contextmanager
def open_table(db: Path, schema: str) -> Iterator[sqlite3.Connection]:
    """A connection to `db` in a transaction (committed on success), `schema` created first."""
    db.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(db, timeout=30)
    try:
        with connection:
            connection.execute(schema)
            yield connection
    finally:
        connection.close()


def dump_review(review: PendingReview) -> str:
    """A review's fields but its ids, as the JSON text its table keeps."""
    data = {k: v for k, v in review.__dict__.items() if k not in ("thread_id", "interrupt_id")}
    return json.dumps(to_jsonable_python(data, fallback=repr), ensure_ascii=False)


def load_review(thread_id: str, interrupt_id: str, payload: str) -> PendingReview:
    """A review back from its table's row (see `dump_review`)."""
    data = json.loads(payload)
    return PendingReview(thread_id=thread_id, interrupt_id=interrupt_id, **data)


def pending_nodes(reviews: Sequence[PendingReview]) -> str:
    """The nodes awaiting review, for messages."""
    return ", ".join(r.node or "?" for r in reviews) or "none"
