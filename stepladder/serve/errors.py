"""HTTP errors of the service: one JSON body, `{"error": kind, "detail": message, ...}`.

A 422 is shaped as FastAPI's own: `{"error": "invalid_input", "message": ..., "detail":
[{"loc": [...], "msg": ..., "type": ...}]}`.

How a run's failure maps to a status:

```
ThreadConflictError       409 run_in_progress    another run holds the thread
                          409 thread_of_another_flow  the thread belongs to another flow
StepLimitError            422 step_limit         the run took its step limit (a loop never exits)
FlowInputError            422 invalid_input      the input or a review's answer does not fit
NodeInputError            422 invalid_input      a node cannot work on a state value (empty query)
ModelError                503 model_unavailable  a tier is down, times out, or cannot start
ConfigError               503 not_configured     a tier's key, a collection, ... is missing
StateStoreError           503 state_unavailable  the Postgres state store cannot be reached
NodeOutputError           500 invalid_output     the model's output stayed invalid
NodeError                 500 node_failed        a node raised
RunError, UserError       500 run_failed
anything else             500 internal_error     a bug: the type and message, no traceback
```
"""

from __future__ import annotations

from typing import Any

from stepladder.errors import (
    ConfigError,
    FlowInputError,
    ModelError,
    NodeError,
    NodeInputError,
    NodeOutputError,
    StateStoreError,
    StepladderError,
    StepLimitError,
    ThreadConflictError,
)

__all__ = ["ServeError", "failure_of"]


class ServeError(Exception):
    """An error answered as one JSON body with an HTTP status.

    Args:
        status: The HTTP status.
        error: A short kind (`model_unavailable`, `unknown_flow`, ...).
        detail: The message, one paragraph.
        extra: More keys for the body (the run id, the flows served, ...).
    """

    def __init__(self, status: int, error: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body (a 422 has FastAPI's shape: `detail` lists problems with a `loc`)."""
        if self.status == 422:
            problem = {"type": self.error, "loc": ["body"], "msg": self.detail}
            return {"error": self.error, "message": self.detail, "detail": [problem], **self.extra}
        return {"error": self.error, "detail": self.detail, **self.extra}


_KINDS: tuple[tuple[type[Exception], int, str], ...] = (
    (StepLimitError, 422, "step_limit"),
    (FlowInputError, 422, "invalid_input"),
    (NodeInputError, 422, "invalid_input"),
    (ModelError, 503, "model_unavailable"),
    (ConfigError, 503, "not_configured"),
    (StateStoreError, 503, "state_unavailable"),
    (NodeOutputError, 500, "invalid_output"),
    (NodeError, 500, "node_failed"),
    (StepladderError, 500, "run_failed"),
)


def failure_of(error: BaseException, **extra: Any) -> ServeError:
    """The HTTP error for a run that raised `error`."""
    if isinstance(error, ServeError):
        error.extra.update(extra)
        return error
    if isinstance(error, ThreadConflictError):
        name = "run_in_progress" if error.reason == "running" else "thread_of_another_flow"
        return ServeError(409, name, str(error), **extra)
    for kind, status, name in _KINDS:
        if isinstance(error, kind):
            return ServeError(status, name, str(error), **extra)
    message = f"{type(error).__name__}: {error}"
    return ServeError(500, "internal_error", message, **extra)
