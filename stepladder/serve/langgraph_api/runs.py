"""Runs as the LangGraph API starts them: on a thread or stateless, with input or a resume.

A run validates its input before it starts (a 422 names the field), takes its thread (a
thread is created on first use by `if_not_exists: create`, or by `POST /threads`), and runs
through the service like a native run, so both APIs share checkpoints and reviews. A run of
a flow that can pause for a person gets a thread even when started stateless.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stepladder.errors import FlowInputError
from stepladder.flows import Flow
from stepladder.flows.reviews import load_reviews
from stepladder.flows.run import INTERRUPT
from stepladder.serve.errors import ServeError, failure_of
from stepladder.serve.guard import check_text
from stepladder.serve.langgraph_api.shapes import interrupt, jsonable, now, run
from stepladder.serve.runs import RunRecord
from stepladder.serve.service import Service

__all__ = ["ApiRun", "RunStarter", "apply_update", "final_values", "run_status"]


@dataclass
class ApiRun:
    """A run started through this API.

    Attributes:
        run_id: Its id (a UUID).
        thread_id: Its thread (None: stateless and not checkpointed).
        flow: The flow run.
        task: The service's task, which ends with the run's record.
        created_at: When it started.
        metadata: What the client attached.
        updates: Each node's update as it happens (None ends the queue).
        start: The state before the run (what `values` events build on).
    """

    run_id: str
    thread_id: str | None
    flow: Flow
    task: asyncio.Task[RunRecord]
    created_at: str
    metadata: dict[str, Any]
    updates: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(default_factory=asyncio.Queue)
    start: dict[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """The run as the API shows it."""
        status = run_status(self.task)
        return run(self.run_id, self.thread_id, self.flow, status=status,
                   created_at=self.created_at, metadata=self.metadata)  # fmt: skip


def run_status(task: asyncio.Task[RunRecord]) -> str:
    """`pending`/`running` until it ends; then `success`, `interrupted` or `error`."""
    if not task.done():
        return "running"
    if task.cancelled():
        return "error"
    record = task.result()
    if record.failure is not None:
        return "error"
    return "interrupted" if record.status == "paused" else "success"


def final_values(record: RunRecord) -> dict[str, Any]:
    """What `runs.wait` and `runs.join` answer: the final state.

    A paused run's state has `__interrupt__` (its reviews); a failed run is `__error__`.
    """
    if record.failure is not None:
        failure = record.failure
        return {"__error__": {"error": failure.error, "message": failure.detail}}
    values: dict[str, Any] = jsonable(record.state)
    if record.status == "paused":
        values[INTERRUPT] = [interrupt(review) for review in record.reviews]
    return values


class RunStarter:
    """Starts runs for the API and keeps them by id (for `join`)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.runs: dict[str, ApiRun] = {}

    async def start(
        self, flow: Flow, payload: Mapping[str, Any], thread_id: str | None, *, fresh: bool
    ) -> ApiRun:
        """Start a run of `flow` from the request body (`input`, `command`, `metadata`).

        Args:
            flow: The assistant's flow.
            payload: The request body.
            thread_id: Its thread, or None for a stateless run.
            fresh: Whether the thread has no checkpoint yet.

        Raises:
            ServeError: 422 for input that does not fit, 409 for a resume with no review
                waiting, or the service's own errors (a busy thread, a tier down).
        """
        command = payload.get("command") or {}
        data, resume = None, None
        if "resume" in command:
            if thread_id is None:
                raise ServeError(422, "invalid_input", "a resume needs the paused run's thread.")
            resume = await self._resume(thread_id, command["resume"])
        else:
            data = self._input(flow, payload.get("input"))
        if thread_id is None and flow.reaches_human:
            thread_id = str(uuid.uuid4())  # a run that may pause needs a thread
        api_run: ApiRun | None = None

        def on_update(node: str, update: dict[str, Any]) -> None:
            if api_run is not None:
                api_run.updates.put_nowait((node, update))

        start = flow.prepare_input(data) if data is not None and (fresh or not thread_id) else {}
        _, task = await self.service.launch(
            flow, data, thread_id=thread_id, on_update=on_update, resume=resume
        )
        metadata = dict(payload.get("metadata") or {})
        api_run = ApiRun(str(uuid.uuid4()), thread_id, flow, task, now(), metadata, start=start)
        task.add_done_callback(lambda _: api_run.updates.put_nowait(None))
        self.runs[api_run.run_id] = api_run
        self._forget_old()
        return api_run

    def _forget_old(self) -> None:
        """Keep the service's number of runs (`--keep-runs`): the oldest ended ones go."""
        excess = len(self.runs) - self.service.registry.limit
        if excess <= 0:
            return
        for run_id in [key for key, kept in self.runs.items() if kept.task.done()][:excess]:
            del self.runs[run_id]

    def _input(self, flow: Flow, data: Any) -> dict[str, Any]:
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise ServeError(
                422, "invalid_input", f"input must be a JSON object of the flow's inputs, not "
                f"{type(data).__name__}.",
            )  # fmt: skip
        check_text(data, ("body", "input"))
        try:
            flow.prepare_input(data)
        except FlowInputError as error:
            raise failure_of(error) from None
        return data

    async def _resume(self, thread_id: str, value: Any) -> dict[str, Any]:
        service = self.service
        reviews = await asyncio.to_thread(
            load_reviews, service.checkpoint_db, thread_id, postgres=service.postgres
        )
        if not reviews:
            raise ServeError(
                409, "not_paused", f"thread '{thread_id}' waits for no review.", run_id=thread_id
            )
        ids = {review.interrupt_id for review in reviews}
        if isinstance(value, dict) and value and set(value) <= ids:
            return dict(value)  # answers keyed by interrupt id
        if len(reviews) > 1:
            raise ServeError(
                422, "invalid_input",
                f"{len(reviews)} reviews wait on thread '{thread_id}'; resume with a mapping of "
                f"interrupt id to answer ({', '.join(sorted(ids))}).",
            )  # fmt: skip
        return {reviews[0].interrupt_id: value}

    def find(self, run_id: str) -> ApiRun | None:
        """A run started here, by id."""
        return self.runs.get(run_id)


def apply_update(values: dict[str, Any], flow: Flow, update: Mapping[str, Any]) -> None:
    """Fold one node's update into `values` with the state keys' reducers."""
    for key, value in update.items():
        spec = flow.spec.state.get(key)
        reducer = spec.reducer if spec is not None else "replace"
        if reducer == "append" and isinstance(values.get(key), list):
            values[key] = [*values[key], *(value or [])]
        elif reducer == "merge" and isinstance(values.get(key), dict):
            values[key] = {**values[key], **(value or {})}
        else:
            values[key] = value
