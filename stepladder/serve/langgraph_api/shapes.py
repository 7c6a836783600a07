"""The LangGraph Platform API's JSON shapes (`langgraph_sdk.schema`), from stepladder's objects.

An assistant per flow (`graph_id` = the flow's name; its `assistant_id` a UUID named by the
flow, and the flow's name works as an id too), threads and their state read from the service's
checkpointer, runs, and a paused review shown as an interrupt (`{value, id}`, the id being the
one `command={"resume": ...}` answers).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python

from stepladder.flows import Flow
from stepladder.flows.run import INTERRUPT
from stepladder.serve.runs import review_view

__all__ = [
    "ASSISTANTS",
    "assistant",
    "assistant_id",
    "interrupt",
    "now",
    "run",
    "thread",
    "thread_state",
]

ASSISTANTS = uuid.UUID("5e0a7d4c-6a33-4c53-9b8e-2f1d0c6a9b17")
EPOCH = "1970-01-01T00:00:00+00:00"


def now() -> str:
    """The time now, ISO 8601 in UTC."""
    return datetime.now(UTC).isoformat()


def assistant_id(flow: Flow) -> str:
    """The flow's assistant id: a UUID derived from its name (stable across restarts)."""
    return str(uuid.uuid5(ASSISTANTS, flow.name))


def assistant(flow: Flow) -> dict[str, Any]:
    """The assistant of `flow` (`langgraph_sdk.schema.Assistant`)."""
    return {
        "assistant_id": assistant_id(flow),
        "graph_id": flow.name,
        "name": flow.name,
        "description": flow.spec.description or None,
        "config": {},
        "context": {},
        "metadata": {"created_by": "stepladder"},
        "version": 1,
        "created_at": EPOCH,
        "updated_at": EPOCH,
    }


def interrupt(review: Any) -> dict[str, Any]:
    """A pending review as an interrupt (`{value, id}`)."""
    return {"value": review_view(review), "id": review.interrupt_id}


def thread(
    thread_id: str,
    *,
    created_at: str,
    metadata: dict[str, Any],
    values: dict[str, Any],
    status: str,
    interrupts: list[dict[str, Any]],
) -> dict[str, Any]:
    """A thread (`langgraph_sdk.schema.Thread`)."""
    return {
        "thread_id": thread_id,
        "created_at": created_at,
        "updated_at": now(),
        "metadata": metadata,
        "status": status,
        "values": jsonable(values),
        "interrupts": {"": interrupts} if interrupts else {},
    }


def thread_state(snapshot: Any, interrupts: list[dict[str, Any]]) -> dict[str, Any]:
    """A checkpoint as a thread's state (`langgraph_sdk.schema.ThreadState`)."""
    values = {k: v for k, v in dict(snapshot.values or {}).items() if k != INTERRUPT}
    parent = snapshot.parent_config["configurable"] if snapshot.parent_config else None
    checkpoint = snapshot.config["configurable"] if snapshot.config else None
    return {
        "values": jsonable(values),
        "next": list(snapshot.next),
        "checkpoint": jsonable(checkpoint),
        "metadata": jsonable(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": jsonable(parent),
        "tasks": [
            {
                "id": task.id,
                "name": task.name,
                "error": task.error and str(task.error),
                "interrupts": interrupts if task.interrupts else [],
                "checkpoint": None,
                "state": None,
                "result": jsonable(task.result),
            }
            for task in snapshot.tasks
        ],
        "interrupts": interrupts,
    }


def run(
    run_id: str,
    thread_id: str | None,
    flow: Flow,
    *,
    status: str,
    created_at: str,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """A run (`langgraph_sdk.schema.Run`)."""
    return {
        "run_id": run_id,
        "thread_id": thread_id,
        "assistant_id": assistant_id(flow),
        "created_at": created_at,
        "updated_at": now(),
        "status": status,
        "metadata": metadata,
        "multitask_strategy": "reject",
    }


def jsonable(value: Any) -> Any:
    """`value` as JSON-ready data (unknown objects by their repr)."""
    return to_jsonable_python(value, fallback=repr)
