"""The service's endpoints: a run endpoint per flow (typed by its state), runs and reviews.

```
POST /flows/{flow}/runs        run a flow: JSON input -> the run (?stream=true: SSE)
GET  /flows                    the flows served (inputs, tiers) and the files skipped
GET  /runs/{run_id}            a run: in memory, else from its checkpoint thread
POST /runs/{run_id}/resume     answer a paused run's review and continue it
```
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import Body, FastAPI, Path, Query
from starlette.responses import JSONResponse, Response

from stepladder.flows import Flow
from stepladder.flows.project import new_thread_id
from stepladder.serve.errors import ServeError
from stepladder.serve.guard import check_text, header_safe
from stepladder.serve.reviews import answer_for
from stepladder.serve.runs import RunRecord
from stepladder.serve.schemas import (
    ErrorBody,
    ResumeRequest,
    RunView,
    ValidationErrorBody,
    sse_content,
)
from stepladder.serve.service import Service
from stepladder.serve.streaming import MEDIA_TYPE, RUN_ID_HEADER, stream_run

__all__ = ["add_flow_routes", "add_run_routes", "run_response"]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
Stream = Annotated[
    bool, Query(description="Answer with server-sent events: one `update` per node, `final`.")
]
ThreadId = Annotated[
    str | None,
    Query(
        pattern=ID_PATTERN,
        description="Checkpoint the run on this thread (its run id). Flows that can hand a case "
        "to a person get one automatically.",
    ),
]
RunId = Annotated[str, Path(description="The run's id (its thread when checkpointed).")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown flow or run."},
    409: {
        "model": ErrorBody,
        "description": "The thread has a run in progress or belongs to another flow, or the "
        "run is not paused.",
    },
    422: {
        "model": ValidationErrorBody,
        "description": "Input that does not fit the schema, or a run that took its step limit.",
    },
    500: {"model": ErrorBody, "description": "The run failed."},
    503: {"model": ErrorBody, "description": "A model tier is down or cannot start."},
}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "The body is over the service's size limit."},
    415: {"model": ErrorBody, "description": "The body was not sent as JSON."},
}


def run_response(record: RunRecord) -> JSONResponse:
    """A run as the JSON response (its id also in the `X-Run-Id` header)."""
    return JSONResponse(record.view(), headers=run_id_header(record.run_id))


def run_id_header(run_id: str) -> dict[str, str]:
    """The `X-Run-Id` header (left out for an id that cannot go in a header)."""
    return {RUN_ID_HEADER: run_id} if header_safe(run_id) else {}


def add_flow_routes(app: FastAPI, service: Service) -> None:
    """`POST /flows/{flow}/runs` for each flow, `GET /flows`, and a 404 for other names."""
    for name, flow in service.flows.items():
        app.add_api_route(
            f"/flows/{name}/runs",
            _run_endpoint(service, flow),
            methods=["POST"],
            response_model=service.run_models[name],
            responses={**ERRORS, **BODY_ERRORS, 200: {"content": _sse(service, name)}},
            summary=f"Run flow '{name}'",
            description=flow.spec.description or f"Run flow '{name}' and return its final state.",
            operation_id=f"run_{name}",
            tags=["flows"],
        )

    @app.get("/flows", tags=["flows"], summary="The flows served")
    async def list_flows() -> dict[str, Any]:
        return {
            "flows": [_flow_info(flow) for flow in service.flows.values()],
            "skipped": service.skipped,
        }

    @app.post("/flows/{name}/runs", include_in_schema=False)
    async def unknown_flow(name: str) -> None:
        served = sorted(service.flows)
        raise ServeError(
            404, "unknown_flow",
            f"no flow '{name}' is served here; flows: {', '.join(served) or 'none'}.",
            flows=served,
        )  # fmt: skip


def add_run_routes(app: FastAPI, service: Service) -> None:
    """`GET /runs/{run_id}` and `POST /runs/{run_id}/resume`."""

    @app.get("/runs/{run_id}", response_model=RunView, responses=dict(ERRORS), tags=["runs"])
    async def get_run(run_id: RunId) -> Response:
        """A run: its status, state, usage, trace and pending reviews."""
        record = await service.find_run(run_id)
        if record is None:
            raise ServeError(
                404, "unknown_run",
                f"no run '{run_id}': runs are kept for the latest {service.registry.limit} "
                "runs, and checkpointed runs are read back from their thread.", run_id=run_id,
            )  # fmt: skip
        return run_response(record)

    @app.post(
        "/runs/{run_id}/resume",
        response_model=RunView,
        responses={**ERRORS, **BODY_ERRORS, 200: {"content": {MEDIA_TYPE: sse_content("RunView")}}},
        tags=["runs"],
    )
    async def resume_run(run_id: RunId, request: ResumeRequest, stream: Stream = False) -> Response:
        """Answer a paused run's review with the node's output fields; continue the run."""
        check_text(request.answer, ("body", "answer"))
        flow, resume = await answer_for(service, run_id, request)
        if stream:
            return await stream_run(service, flow, None, thread_id=run_id, resume=resume)
        return run_response(await service.run(flow, None, thread_id=run_id, resume=resume))


def _run_endpoint(service: Service, flow: Flow) -> Any:
    """The endpoint of one flow, its body typed by the flow's input model."""

    async def endpoint(body: Any, stream: bool, thread_id: str | None) -> Response:
        data = body.model_dump(exclude_unset=True) if body is not None else {}
        check_text(data, ("body",))
        if thread_id is None and flow.reaches_human:
            thread_id = new_thread_id(flow.name)
        if stream:
            return await stream_run(service, flow, data, thread_id=thread_id)
        return run_response(await service.run(flow, data, thread_id=thread_id))

    required = any(field.is_required() for field in flow.input_model.model_fields.values())
    body_type = flow.input_model if required else flow.input_model | None
    keyword = inspect.Parameter.KEYWORD_ONLY
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("body", keyword, annotation=Annotated[body_type, Body()],
                              default=inspect.Parameter.empty if required else None),
            inspect.Parameter("stream", keyword, annotation=Stream, default=False),
            inspect.Parameter("thread_id", keyword, annotation=ThreadId, default=None),
        ],
        return_annotation=Response,
    )  # fmt: skip
    endpoint.__name__ = f"run_{flow.name}"
    return endpoint


def _sse(service: Service, name: str) -> dict[str, Any]:
    """The stream's media type for flow `name` (its `final` event is `<name>_run`)."""
    return {MEDIA_TYPE: sse_content(service.run_models[name].__name__)}


def _flow_info(flow: Flow) -> dict[str, Any]:
    return {
        "name": flow.name,
        "description": flow.spec.description,
        "url": f"/flows/{flow.name}/runs",
        "input_schema": flow.input_model.model_json_schema(),
        "tiers": sorted(flow.tiers),
        "reaches_human": flow.reaches_human,
    }
