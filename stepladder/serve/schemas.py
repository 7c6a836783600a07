"""Pydantic models of the API, per flow from its state: what `/openapi.json` publishes.

Each flow gets `<flow>_input` (its `input: true` state keys, `Flow.input_model`: unknown
fields are refused), `<flow>_state` (every state key, each optional: a paused or failed run
has not written them all) and `<flow>_run` (a run: id, status, usage, trace, reviews and the
state). Responses are documented by these models but not re-validated: the state is returned
as the run left it.

A streamed run's events are published too: each `text/event-stream` media type has an
`itemSchema` (as OpenAPI 3.2 writes a stream's items) giving each event's name and the JSON
Schema of its data: `update` a `StreamUpdate`, `final` the flow's run, `error` a
`StreamError` (these schemas are in the document's components: `stream_components`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.json_schema import models_json_schema

from stepladder.flows import Flow
from stepladder.serve.runs import Status
from stepladder.specs.type_expressions import unannotated

__all__ = [
    "ErrorBody",
    "ResumeRequest",
    "Review",
    "RunView",
    "StreamError",
    "StreamUpdate",
    "ValidationErrorBody",
    "run_model",
    "sse_content",
    "stream_components",
]

REF = "#/components/schemas/{model}"


class Review(BaseModel):
    """A case a node handed to a person; answer it with `POST /runs/{run_id}/resume`."""

    interrupt_id: str
    node: str
    reason: str = Field(description="Why it escalated: invalid, confidence, verifier, router.")
    detail: str = ""
    asked_at: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict, description="The node's reads.")
    candidate: Any = Field(default=None, description="The last rung's output, if any.")
    candidate_tier: str | None = None
    answer_schema: dict[str, Any] = Field(
        default_factory=dict, description="JSON Schema of the answer (the node's outputs)."
    )


class ErrorInfo(BaseModel):
    """Why a run failed."""

    error: str
    detail: str


class RunView(BaseModel):
    """A run: its id, status, final (or current) state, usage, trace and pending reviews."""

    run_id: str = Field(description="Use with GET /runs/{run_id}; the thread id when checkpointed.")
    flow: str
    status: Status
    thread_id: str | None = None
    created_at: str
    duration_s: float | None = None
    state: dict[str, Any] = Field(default_factory=dict)
    usage: dict[str, Any] = Field(
        default_factory=dict, description="Model calls, tokens, seconds, cost (total, by node)."
    )
    trace_id: str | None = None
    reviews: list[Review] = Field(default_factory=list)
    error: ErrorInfo | None = None
    resume: str | None = Field(default=None, description="Where to answer a paused run.")


class ResumeRequest(BaseModel):
    """The answer to a paused run's review: the waiting node's output fields."""

    model_config = ConfigDict(extra="forbid")

    answer: dict[str, Any] = Field(description="The node's output fields (see answer_schema).")
    node: str | None = Field(default=None, description="The node answered, when several wait.")


class ErrorBody(BaseModel):
    """An error: its kind and one paragraph saying what went wrong."""

    error: str
    detail: str
    run_id: str | None = None


class ValidationErrorBody(BaseModel):
    """Input that does not fit the schema: each problem with the path of its field."""

    error: Literal["invalid_input"]
    message: str = Field(description="Every problem on one line, naming each field.")
    detail: list[dict[str, Any]] = Field(description="Problems with their `loc` (field path).")


class StreamUpdate(BaseModel):
    """`event: update` of a streamed run: one node's update (the state keys it wrote)."""

    node: str
    update: dict[str, Any]


class StreamError(BaseModel):
    """`event: error` of a streamed run: the error body (as JSON answers have it) and the run."""

    error: str
    detail: str | list[dict[str, Any]]
    message: str | None = Field(default=None, description="Every problem, on one line (422).")
    run_id: str | None = None
    run: RunView | None = Field(default=None, description="The failed run.")


def stream_components() -> dict[str, Any]:
    """The JSON Schemas of the stream's events, for the OpenAPI document's components."""
    _, top = models_json_schema(
        [(StreamUpdate, "serialization"), (StreamError, "serialization")], ref_template=REF
    )
    return dict(top.get("$defs", {}))


def sse_content(run_schema: str) -> dict[str, Any]:
    """The `text/event-stream` media type of a run endpoint whose run model is `run_schema`."""
    description = (
        "Server-sent events, each `event: NAME` and `data: JSON` on one line: `update` per "
        f"node update (StreamUpdate), then `final` ({run_schema}) or `error` (StreamError)."
    )
    events = (("update", "StreamUpdate"), ("final", run_schema), ("error", "StreamError"))
    return {"itemSchema": {"description": description, "oneOf": [_event(*e) for e in events]}}


def _event(name: str, model: str) -> dict[str, Any]:
    """One event: its name, and its data (one line of JSON) as `model`."""
    data = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"$ref": REF.format(model=model)},
    }
    return {
        "type": "object",
        "properties": {"event": {"const": name}, "data": data},
        "required": ["event", "data"],
    }


def run_model(flow: Flow) -> type[BaseModel]:
    """The model of a run of `flow` (`<flow>_run`, its state typed as `<flow>_state`)."""
    return create_model(
        f"{flow.name}_run",
        __base__=RunView,
        __doc__=f"A run of flow '{flow.name}'.",
        state=(_state_model(flow), Field(description=f"The state of flow '{flow.name}'.")),
    )


def _state_model(flow: Flow) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for key, python_type in flow.state_types.items():
        spec = flow.spec.state.get(key)
        description = spec.description if spec is not None and spec.description else None
        fields[key] = (_optional(python_type), Field(default=None, description=description))
    return create_model(
        f"{flow.name}_state", __doc__=flow.spec.description or f"State of flow '{flow.name}'.",
        **fields,
    )  # fmt: skip


def _optional(python_type: Any) -> Any:
    """`python_type | None`, or `Any` for a type that has no JSON Schema."""
    plain = unannotated(python_type)
    try:
        optional = plain | None
        TypeAdapter(optional).json_schema()
    except Exception:  # a Python class pydantic cannot describe: publish it as any value
        return Any
    return optional
