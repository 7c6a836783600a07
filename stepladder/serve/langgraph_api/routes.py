"""The part of the LangGraph Platform API that `langgraph_sdk.get_client(url=...)` uses.

```
POST /assistants/search      GET /assistants/{id}
POST /threads                GET /threads/{id}        GET /threads/{id}/state
POST /threads/{id}/runs[/wait|/stream]     GET /threads/{id}/runs/{run_id}/join
POST /runs[/wait|/stream]    (stateless)
```
One assistant per flow; runs go through the service (the same checkpointer, reviews and
metrics as the native API). Stream modes `values` and `updates`. An unknown assistant, thread
or run is a 404 whose `detail` says which; input that does not fit the flow a 422. These
routes are left out of the service's OpenAPI document (it describes the native API).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI
from starlette.responses import JSONResponse, StreamingResponse

from stepladder.flows import Flow
from stepladder.flows.checkpoints import open_checkpointer
from stepladder.flows.reviews import load_reviews
from stepladder.flows.run import INTERRUPT
from stepladder.flows.threads import flow_of_thread
from stepladder.serve.errors import ServeError
from stepladder.serve.langgraph_api import shapes
from stepladder.serve.langgraph_api.runs import ApiRun, RunStarter, apply_update, final_values
from stepladder.serve.service import Service
from stepladder.serve.streaming import MEDIA_TYPE, format_event

__all__ = ["add_langgraph_routes"]

Payload = dict[str, Any]
JsonBody = Annotated[Payload | None, Body()]
STREAM_MODES = ("values", "updates")


@dataclass
class _Thread:
    created_at: str
    metadata: dict[str, Any] = field(default_factory=dict)


class LangGraphApi:
    """The API's state in this process: threads created here, runs started here."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.starter = RunStarter(service)
        self.threads: dict[str, _Thread] = {}
        self.by_id = {shapes.assistant_id(f): f for f in service.flows.values()}

    def flow(self, assistant_id: Any) -> Flow:
        """The flow of an assistant (by its id, or the flow's name)."""
        found = self.by_id.get(str(assistant_id)) or self.service.flows.get(str(assistant_id))
        if found is None:
            raise ServeError(
                404, "unknown_assistant",
                f"Assistant '{assistant_id}' not found; assistants (graph ids): "
                f"{', '.join(sorted(self.service.flows)) or 'none'}.",
            )  # fmt: skip
        return found

    async def owner(self, thread_id: str) -> tuple[Flow | None, str]:
        """The flow a thread belongs to (None before its first run) and its creation time.

        Raises:
            ServeError: 404 for a thread neither created here nor found in the checkpoints.
        """
        service = self.service
        known = await asyncio.to_thread(
            flow_of_thread, service.checkpoint_db, thread_id, postgres=service.postgres
        )
        if known is not None:
            return service.flows.get(known[0]), known[1]
        made = self.threads.get(thread_id)
        if made is None:
            raise ServeError(404, "unknown_thread", f"Thread '{thread_id}' not found.")
        return None, made.created_at

    async def snapshot(self, flow: Flow, thread_id: str) -> Any:
        """The thread's last checkpoint (LangGraph's `StateSnapshot`)."""
        service = self.service
        async with open_checkpointer(service.checkpoint_db, service.postgres) as saver:
            app = flow.compile(checkpointer=saver)
            return await app.aget_state({"configurable": {"thread_id": thread_id}})

    async def interrupts(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's pending reviews as interrupts."""
        service = self.service
        reviews = await asyncio.to_thread(
            load_reviews, service.checkpoint_db, thread_id, postgres=service.postgres
        )
        return [shapes.interrupt(review) for review in reviews]

    async def thread_view(self, thread_id: str) -> dict[str, Any]:
        flow, created_at = await self.owner(thread_id)
        made = self.threads.get(thread_id)
        metadata = made.metadata if made is not None else {}
        values: dict[str, Any] = {}
        pending = await self.interrupts(thread_id)
        if flow is not None:
            snapshot = await self.snapshot(flow, thread_id)
            values = {k: v for k, v in dict(snapshot.values or {}).items() if k != INTERRUPT}
        busy = any(
            r.thread_id == thread_id and not r.task.done() for r in self.starter.runs.values()
        )
        status = "busy" if busy else "interrupted" if pending else "idle"
        return shapes.thread(thread_id, created_at=created_at, metadata=metadata,
                             values=values, status=status, interrupts=pending)  # fmt: skip

    async def start(self, thread_id: str | None, payload: Payload) -> ApiRun:
        """Start a run (creating its thread when asked to)."""
        flow = self.flow(payload.get("assistant_id"))
        fresh = False
        if thread_id is not None:
            try:
                owner, _ = await self.owner(thread_id)
            except ServeError:
                if payload.get("if_not_exists") != "create":
                    raise
                self.threads[thread_id] = _Thread(shapes.now())
                owner = None
            fresh = owner is None
        return await self.starter.start(flow, payload, thread_id, fresh=fresh)


def add_langgraph_routes(app: FastAPI, service: Service) -> None:
    """Answer the LangGraph SDK's assistants, threads and runs requests."""
    api = LangGraphApi(service)
    router = APIRouter(include_in_schema=False)
    _assistant_routes(router, api)
    _thread_routes(router, api)
    _run_routes(router, api)
    app.include_router(router)


def _assistant_routes(router: APIRouter, api: LangGraphApi) -> None:
    @router.post("/assistants/search")
    async def search_assistants(body: JsonBody = None) -> Any:
        payload = body or {}
        found = [shapes.assistant(flow) for flow in api.service.flows.values()]
        if graph_id := payload.get("graph_id"):
            found = [a for a in found if a["graph_id"] == graph_id]
        if name := payload.get("name"):
            found = [a for a in found if str(name).lower() in a["name"].lower()]
        offset, limit = int(payload.get("offset") or 0), int(payload.get("limit") or 10)
        return found[offset : offset + limit]

    @router.get("/assistants/{assistant_id}")
    async def get_assistant(assistant_id: str) -> Any:
        return shapes.assistant(api.flow(assistant_id))


def _thread_routes(router: APIRouter, api: LangGraphApi) -> None:
    @router.post("/threads")
    async def create_thread(body: JsonBody = None) -> Any:
        payload = body or {}
        thread_id = str(payload.get("thread_id") or uuid.uuid4())
        if thread_id in api.threads and payload.get("if_exists") != "do_nothing":
            raise ServeError(409, "thread_exists", f"Thread '{thread_id}' already exists.")
        api.threads.setdefault(
            thread_id, _Thread(shapes.now(), dict(payload.get("metadata") or {}))
        )
        return await api.thread_view(thread_id)

    @router.get("/threads/{thread_id}")
    async def get_thread(thread_id: str) -> Any:
        return await api.thread_view(thread_id)

    @router.get("/threads/{thread_id}/state")
    async def get_state(thread_id: str) -> Any:
        flow, _ = await api.owner(thread_id)
        if flow is None:  # created, never run
            return {"values": {}, "next": [], "checkpoint": None, "metadata": {},
                    "created_at": None, "parent_checkpoint": None, "tasks": [],
                    "interrupts": []}  # fmt: skip
        snapshot = await api.snapshot(flow, thread_id)
        return shapes.thread_state(snapshot, await api.interrupts(thread_id))


def _run_routes(router: APIRouter, api: LangGraphApi) -> None:
    @router.post("/threads/{thread_id}/runs")
    async def create_run(thread_id: str, body: JsonBody = None) -> Any:
        payload = body or {}
        return (await api.start(thread_id, payload)).view()

    @router.post("/runs")
    async def create_stateless_run(body: JsonBody = None) -> Any:
        payload = body or {}
        return (await api.start(None, payload)).view()

    @router.post("/threads/{thread_id}/runs/wait")
    async def wait_run(thread_id: str, body: JsonBody = None) -> Any:
        payload = body or {}
        return await _wait(await api.start(thread_id, payload))

    @router.post("/runs/wait")
    async def wait_stateless_run(body: JsonBody = None) -> Any:
        payload = body or {}
        return await _wait(await api.start(None, payload))

    @router.post("/threads/{thread_id}/runs/stream")
    async def stream_run(thread_id: str, body: JsonBody = None) -> Any:
        payload = body or {}
        return _stream(await api.start(thread_id, payload), _modes(payload))

    @router.post("/runs/stream")
    async def stream_stateless_run(body: JsonBody = None) -> Any:
        payload = body or {}
        return _stream(await api.start(None, payload), _modes(payload))

    @router.get("/threads/{thread_id}/runs/{run_id}/join")
    async def join_run(thread_id: str, run_id: str) -> Any:
        found = api.starter.find(run_id)
        if found is None or found.thread_id != thread_id:
            raise ServeError(
                404, "unknown_run", f"Run '{run_id}' not found on thread '{thread_id}'."
            )
        return await _wait(found)


async def _wait(api_run: ApiRun) -> JSONResponse:
    record = await asyncio.shield(api_run.task)
    headers = {"Content-Location": f"/threads/{api_run.thread_id}/runs/{api_run.run_id}"}
    return JSONResponse(final_values(record), headers=headers if api_run.thread_id else None)


def _modes(payload: Payload) -> tuple[str, ...]:
    asked = payload.get("stream_mode") or "values"
    modes = (asked,) if isinstance(asked, str) else tuple(asked)
    unknown = [mode for mode in modes if mode not in STREAM_MODES]
    if unknown:
        raise ServeError(
            422, "invalid_input",
            f"stream mode(s) {', '.join(map(str, unknown))} are not served; modes: "
            f"{', '.join(STREAM_MODES)}.",
        )  # fmt: skip
    return modes


def _stream(api_run: ApiRun, modes: tuple[str, ...]) -> StreamingResponse:
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(_events(api_run, modes), media_type=MEDIA_TYPE, headers=headers)


async def _events(api_run: ApiRun, modes: tuple[str, ...]) -> AsyncIterator[str]:
    yield format_event("metadata", {"run_id": api_run.run_id, "attempt": 1})
    values = dict(api_run.start)
    while (item := await api_run.updates.get()) is not None:
        node, update = item
        apply_update(values, api_run.flow, update)
        if "updates" in modes:
            yield format_event("updates", {node: update})
        if "values" in modes:
            yield format_event("values", values)
    record = await asyncio.shield(api_run.task)
    final = final_values(record)
    if "__error__" in final:
        yield format_event("error", final["__error__"])
        return
    if INTERRUPT in final and "updates" in modes:
        yield format_event("updates", {INTERRUPT: final[INTERRUPT]})
    if "values" in modes and (INTERRUPT in final or final != shapes.jsonable(values)):
        yield format_event("values", final)
