"""The service's runs: a record per run, kept in a bounded in-memory registry.

A run's id is its checkpoint thread when it has one (so `GET /runs/{id}` also finds it in the
checkpoint database after a restart), else a random `run-…` id. The registry keeps the latest
`limit` runs; the oldest that are not running are dropped first.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Literal

from pydantic_core import to_jsonable_python

from stepladder.flows import PendingReview, RunResult
from stepladder.serve.errors import ServeError

__all__ = ["RunRecord", "RunRegistry", "Status", "new_run_id", "review_view"]

Status = Literal["running", "finished", "paused", "failed", "unfinished"]
DEFAULT_LIMIT = 10_000


def new_run_id() -> str:
    """A fresh id for a run that has no checkpoint thread."""
    return f"run-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class RunRecord:
    """What the service knows of a run.

    Attributes:
        run_id: The run's id (its thread id when checkpointed).
        flow: The flow's name.
        status: `running`, `finished`, `paused` (awaits a review), `failed`, or `unfinished`
            (a checkpointed run that stopped before its end, say the server was stopped).
        thread_id: The checkpoint thread, when the run has one.
        created_at: When the run started (ISO 8601, UTC).
        duration_s: Wall time of the run, once it ended.
        state: The final state (or the last checkpointed state).
        usage: Model calls, tokens, cost (from the run's usage ledger).
        trace_id: The run's trace, when traced.
        reviews: The pending reviews of a paused run.
        error: `{"error": kind, "detail": message}` of a failed run.
        failure: The HTTP error of a failed run.
    """

    run_id: str
    flow: str
    status: Status = "running"
    thread_id: str | None = None
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    duration_s: float | None = None
    state: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = None
    reviews: tuple[PendingReview, ...] = ()
    error: dict[str, Any] | None = None
    failure: ServeError | None = field(default=None, repr=False, compare=False)

    def ended(self, result: RunResult, seconds: float) -> RunRecord:
        """This run, finished or paused with `result`."""
        return replace(
            self,
            status=result.status,
            duration_s=round(seconds, 6),
            state=result.state,
            usage=result.usage,
            trace_id=result.trace_id,
            reviews=result.reviews,
        )

    def failed(self, failure: ServeError, seconds: float, error: BaseException) -> RunRecord:
        """This run, failed with `failure` (keeping the state, usage and trace of `error`)."""
        return replace(
            self,
            status="failed",
            duration_s=round(seconds, 6),
            state=dict(getattr(error, "partial_state", None) or {}),
            usage=dict(getattr(error, "usage", None) or {}),
            trace_id=getattr(error, "trace_id", None),
            error={"error": failure.error, "detail": failure.detail},
            failure=failure,
        )

    def view(self) -> dict[str, Any]:
        """The run as a JSON-ready dict (the response body)."""
        body: dict[str, Any] = {
            "run_id": self.run_id,
            "flow": self.flow,
            "status": self.status,
            "thread_id": self.thread_id,
            "created_at": self.created_at,
            "duration_s": self.duration_s,
            "state": self.state,
            "usage": self.usage,
            "trace_id": self.trace_id,
            "reviews": [review_view(r) for r in self.reviews],
            "error": self.error,
        }
        if self.status == "paused":
            body["resume"] = f"/runs/{self.run_id}/resume"
        return to_jsonable_python(body, fallback=repr)  # type: ignore[no-any-return]


def review_view(review: PendingReview) -> dict[str, Any]:
    """A pending review as the API shows it (the answer's JSON Schema as `answer_schema`)."""
    return {
        "interrupt_id": review.interrupt_id,
        "node": review.node,
        "reason": review.reason,
        "detail": review.detail,
        "asked_at": review.asked_at,
        "inputs": review.inputs,
        "candidate": review.candidate,
        "candidate_tier": review.candidate_tier,
        "answer_schema": review.schema,
    }


class RunRegistry:
    """The latest runs by id, bounded; safe across threads.

    Args:
        limit: How many runs to keep.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._runs: OrderedDict[str, RunRecord] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, run_id: str, flow: str, thread_id: str | None) -> RunRecord:
        """Register a run that starts now.

        Raises:
            ServeError: 409 when a run on the same id is still running.
        """
        record = RunRecord(run_id, flow, thread_id=thread_id)
        with self._lock:
            current = self._runs.get(run_id)
            if current is not None and current.status == "running":
                raise ServeError(
                    409, "run_in_progress",
                    f"run '{run_id}' is still running; wait for it (GET /runs/{run_id}).",
                    run_id=run_id,
                )  # fmt: skip
            self._runs.pop(run_id, None)
            self._runs[run_id] = record
            self._trim()
        return record

    def put(self, record: RunRecord) -> RunRecord:
        """Store the latest version of a run."""
        with self._lock:
            self._runs[record.run_id] = record
        return record

    def get(self, run_id: str) -> RunRecord | None:
        """The run with this id, if kept."""
        with self._lock:
            return self._runs.get(run_id)

    def _trim(self) -> None:
        excess = len(self._runs) - self.limit
        if excess <= 0:
            return
        ended = (k for k, r in self._runs.items() if r.status != "running")
        for run_id in list(islice(ended, excess)):
            del self._runs[run_id]
