"""Server-sent events of a run: `event: update` per node update, then `final` (or `error`).

```
event: update
data: {"node": "normalize", "update": {"text": "hello"}}

event: final
data: {"run_id": "run-…", "status": "finished", "state": {...}, ...}
```
A failed run ends with `event: error` whose data is the error body and the run. The run's id
is also in the `X-Run-Id` header, so a client that drops the stream can read the result later.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic_core import to_jsonable_python
from starlette.responses import StreamingResponse

from stepladder.flows import Flow
from stepladder.serve.guard import header_safe
from stepladder.serve.runs import RunRecord
from stepladder.serve.service import Service

__all__ = ["MEDIA_TYPE", "RUN_ID_HEADER", "format_event", "stream_run"]

RUN_ID_HEADER = "X-Run-Id"
MEDIA_TYPE = "text/event-stream"
Item = tuple[str, dict[str, Any]] | None


async def stream_run(
    service: Service,
    flow: Flow,
    data: dict[str, Any] | None,
    *,
    thread_id: str | None = None,
    resume: Mapping[str, Any] | None = None,
) -> StreamingResponse:
    """Start a run and answer with its events as they happen.

    Raises:
        ServeError: Before any event, when the run cannot start (a tier is down: 503).
    """
    queue: asyncio.Queue[Item] = asyncio.Queue()

    def on_update(node_id: str, update: dict[str, Any]) -> None:
        queue.put_nowait((node_id, update))

    record, task = await service.launch(
        flow, data, thread_id=thread_id, on_update=on_update, resume=resume
    )
    task.add_done_callback(lambda _: queue.put_nowait(None))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if header_safe(record.run_id):
        headers[RUN_ID_HEADER] = record.run_id
    return StreamingResponse(_events(queue, task), media_type=MEDIA_TYPE, headers=headers)


async def _events(queue: asyncio.Queue[Item], task: asyncio.Task[RunRecord]) -> AsyncIterator[str]:
    while (item := await queue.get()) is not None:
        node_id, update = item
        yield format_event("update", {"node": node_id, "update": update})
    if task.cancelled():
        yield format_event("error", {"error": "cancelled", "detail": "the service stopped"})
        return
    record = task.result()
    if record.failure is not None:
        yield format_event("error", {**record.failure.body(), "run": record.view()})
    else:
        yield format_event("final", record.view())


def format_event(event: str, data: Any) -> str:
    """One server-sent event: its name and its data as one line of JSON."""
    text = json.dumps(to_jsonable_python(data, fallback=repr), ensure_ascii=False)
    return f"event: {event}\ndata: {text}\n\n"
