"""The studio's flows area: each flow drawn, a form from its input schema, runs streamed.

```
GET  /flows                          the flows (page)
GET  /flows/{name}                   one flow: its picture, a form, its runs as they stream
GET  /api/flows                      name, description, node count, inputs; files skipped
GET  /api/flows/{name}               input JSON Schema, nodes, the picture (SVG)
POST /api/flows/{name}/runs          start a run (JSON input): server-sent events, as
                                     `POST /flows/{flow}/runs?stream=true` of `stepladder serve`
GET  /api/flow-runs/{run_id}         a run (its status, state, pending reviews)
POST /api/flow-runs/{run_id}/resume  answer a pending review ({"answer": {...}}): events
```
Runs go through the serve `Service` (`flow_service`): they are traced into the project's
store and checkpointed on a thread when a node can hand its case to a person. Errors are JSON
`{"error": kind, "detail": message}` that the pages show.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from stepladder.errors import FlowInputError
from stepladder.flows.picture import flow_svg
from stepladder.flows.project import new_thread_id
from stepladder.serve.errors import ServeError
from stepladder.serve.reviews import answer_for
from stepladder.serve.schemas import ResumeRequest
from stepladder.serve.streaming import stream_run
from stepladder.studio.flow_service import StudioFlows, studio_flows
from stepladder.studio.pages import page

if TYPE_CHECKING:
    from stepladder.flows import Flow

__all__ = ["router"]

router = APIRouter()
Flows = Annotated[StudioFlows, Depends(studio_flows)]


@router.get("/flows", include_in_schema=False, name="flows_page")
async def flows_page(request: Request) -> HTMLResponse:
    """The flows page."""
    return page(request, "flows.html")


@router.get("/flows/{name}", include_in_schema=False, name="flow_page")
async def flow_page(request: Request, name: str) -> HTMLResponse:
    """One flow's page (it reads its flow from the address and shows a missing one's error)."""
    return page(request, "flow.html")


@router.get("/api/flows")
async def list_flows(flows: Flows) -> dict[str, Any]:
    """The flows that run here (name, description, nodes, inputs) and the files skipped."""
    service = await flows.service()
    return {
        "flows": [
            {
                "name": flow.name,
                "description": flow.spec.description,
                "nodes": len(flow.spec.nodes),
                "inputs": [key for key, field in flow.spec.state.items() if field.input],
                "tiers": sorted(flow.tiers),
                "reaches_human": flow.reaches_human,
            }
            for flow in service.flows.values()
        ],
        "skipped": service.skipped,
    }


@router.get("/api/flows/{name}")
async def show_flow(name: str, flows: Flows) -> Response:
    """A flow: its input JSON Schema, its nodes and its picture (SVG)."""
    service = await flows.service()
    flow = service.flows.get(name)
    if flow is None:
        return _unknown_flow(name, service.flows, service.skipped)
    svg = await asyncio.to_thread(flow_svg, flow.spec)
    nodes = [
        {
            "id": node.id,
            "kind": node.kind_name(),
            "tier": node.first_rung(),
            "description": node.description,
            "reads": node.reads,
            "writes": node.writes,
        }
        for node in flow.spec.nodes
    ]
    return JSONResponse(
        {
            "name": flow.name,
            "description": flow.spec.description,
            "input_schema": _input_schema(flow),
            "nodes": nodes,
            "tiers": sorted(flow.tiers),
            "reaches_human": flow.reaches_human,
            "svg": svg,
        }
    )


@router.post("/api/flows/{name}/runs")
async def start_run(
    name: str, flows: Flows, data: Annotated[dict[str, Any] | None, Body()] = None
) -> Response:
    """Start a run of flow `name` with the JSON input; answer with its events as they happen."""
    service = await flows.service()
    flow = service.flows.get(name)
    if flow is None:
        return _unknown_flow(name, service.flows, service.skipped)
    try:
        flow.prepare_input(data or {})
    except FlowInputError as error:
        return _error(422, "invalid_input", str(error))
    thread_id = new_thread_id(flow.name) if flow.reaches_human else None
    try:
        return await stream_run(service, flow, data or {}, thread_id=thread_id)
    except ServeError as error:
        return _error(error.status, error.error, error.detail)


@router.get("/api/flow-runs/{run_id}")
async def show_run(run_id: str, flows: Flows) -> Response:
    """A run: its status, state, usage, trace and pending reviews."""
    service = await flows.service()
    record = await service.find_run(run_id)
    if record is None:
        return _error(404, "unknown_run", f"no run '{run_id}'.")
    return JSONResponse(record.view())


@router.post("/api/flow-runs/{run_id}/resume")
async def resume_run(run_id: str, flows: Flows, body: Annotated[Any, Body()] = None) -> Response:
    """Answer a paused run's review (`{"answer": {...}, "node": ...}`); stream the rest."""
    service = await flows.service()
    try:
        request = ResumeRequest.model_validate(body)
    except ValidationError as error:
        return _error(422, "invalid_input", _problems(error.errors(include_url=False)))
    try:
        flow, resume = await answer_for(service, run_id, request)
        return await stream_run(service, flow, None, thread_id=run_id, resume=resume)
    except RequestValidationError as error:
        return _error(422, "invalid_input", _problems(error.errors()))
    except ServeError as error:
        return _error(error.status, error.error, error.detail)


def _input_schema(flow: Flow) -> dict[str, Any]:
    """The JSON Schema of the flow's input, with each state key's description."""
    schema = flow.input_model.model_json_schema()
    for key, spec in (schema.get("properties") or {}).items():
        field = flow.spec.state.get(key)
        if field is not None and field.description and "description" not in spec:
            spec["description"] = field.description
    return schema


def _unknown_flow(name: str, served: dict[str, Any], skipped: dict[str, str]) -> JSONResponse:
    names = ", ".join(sorted(served)) or "none"
    detail = f"no flow '{name}' here; flows: {names}."
    for file, problem in skipped.items():
        if file == name:
            detail = f"flow file '{file}' does not load: {problem}"
    return _error(404, "unknown_flow", detail)


def _error(status: int, kind: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail}, status_code=status)


def _problems(errors: Any) -> str:
    """Validation problems on one line, each with the path of its field."""
    parts = []
    for problem in errors:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
        parts.append(f"{where}: {problem.get('msg')}" if where else str(problem.get("msg")))
    return "; ".join(parts) + "."
