"""The project's flows as MCP tools: one `mcp` SDK server over a `Service`.

`stepladder mcp` serves it over stdio (`serve_stdio`); `stepladder serve --mcp` mounts it at
`/mcp` as streamable HTTP (`mount_mcp`), behind the service's bearer token, with the SDK's
Host and Origin checks against DNS rebinding. A call runs the flow through the service, as
`POST /flows/{flow}/runs` does (a flow that can pause for a person gets a thread), and
reports a progress notification as each node finishes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import mcp_types as types
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params

from stepladder.flows.project import new_thread_id
from stepladder.serve.errors import ServeError
from stepladder.serve.guard import check_text
from stepladder.serve.mcp.answers import ProgressAwareSessionManager
from stepladder.serve.mcp.flow_tools import error_result, flow_tool, run_result
from stepladder.serve.service import Service
from stepladder.version import __version__

__all__ = [
    "MCP_PATH",
    "call_flow",
    "flows_server",
    "mount_mcp",
    "serve_stdio",
    "transport_security",
]

MCP_PATH = "/mcp"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def flows_server(service: Service) -> Server[Any]:
    """An MCP server whose tools are `service`'s flows."""
    tools = [flow_tool(flow) for flow in service.flows.values()]

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        # progress only where the caller asked for it (a JSON answer over HTTP otherwise)
        wants_progress = progress_token_from_params(ctx.params) is not None
        session = ctx.session if wants_progress else None
        return await call_flow(service, params.name, params.arguments or {}, session)

    name = f"stepladder: {service.project.settings.name}"
    return Server(name, version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)


async def call_flow(
    service: Service, name: str, arguments: dict[str, Any], session: Any = None
) -> types.CallToolResult:
    """Run flow `name` on `arguments`; with `session`, each finished node is reported."""
    flow = service.flows.get(name)
    if flow is None:
        served = ", ".join(sorted(service.flows)) or "none"
        return error_result(
            ServeError(404, "unknown_flow", f"no flow '{name}' is served here; flows: {served}.")
        )
    try:
        check_text(arguments, ("arguments",))
        thread_id = new_thread_id(flow.name) if flow.reaches_human else None
        progress: asyncio.Queue[str] = asyncio.Queue()
        on_update = None if session is None else lambda node, _: progress.put_nowait(node)
        _, task = await service.launch(flow, arguments, thread_id=thread_id, on_update=on_update)
        if session is None:
            record = await asyncio.shield(task)
        else:
            record = await _with_progress(task, progress, session)
    except ServeError as error:
        return error_result(error)
    except RequestValidationError as error:  # text that is not Unicode
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        return error_result(ServeError(422, "invalid_input", f"{where}: {problem['msg']}"))
    if record.failure is not None:
        return error_result(record.failure)
    return run_result(record)


async def _with_progress(
    task: asyncio.Task[Any], progress: asyncio.Queue[str], session: Any
) -> Any:
    """Wait for the run, reporting each node that finished."""
    done = 0
    while True:
        getter = asyncio.ensure_future(progress.get())
        finished, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
        if getter in finished:
            done += 1
            await _report(session, done, getter.result())
            continue
        getter.cancel()
        while not progress.empty():
            done += 1
            await _report(session, done, progress.get_nowait())
        return await asyncio.shield(task)


async def _report(session: Any, done: int, node: str) -> None:
    """One progress notification; a lost one is let go."""
    try:
        await session.report_progress(done, None, f"node '{node}' finished")
    except Exception:  # the client went away: the run goes on, its result is kept
        return


async def serve_stdio(service: Service) -> None:
    """Serve the flows over stdin and stdout until the client closes them."""
    from mcp.server.stdio import stdio_server  # lazy: only `stepladder mcp` serves stdio

    server = flows_server(service)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await service.close()


def transport_security(host: str, allowed_hosts: tuple[str, ...] = ()) -> TransportSecuritySettings:
    """Host and Origin checks: loopback names, the host served on, and `allowed_hosts`."""
    hosts = {*LOOPBACK_HOSTS, *allowed_hosts}
    if host not in ("0.0.0.0", "::", ""):
        hosts.add(f"[{host}]" if ":" in host else host)
    origins = {f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")}
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted({*hosts, *(f"{h}:*" for h in hosts)}),
        allowed_origins=sorted({*origins, *(f"{o}:*" for o in origins)}),
    )


def mount_mcp(app: FastAPI, service: Service, security: TransportSecuritySettings) -> None:
    """Answer MCP's streamable HTTP at `/mcp` (its sessions run with the app's lifespan).

    A request that asks for progress is answered with an SSE stream, any other with JSON.
    """
    manager = ProgressAwareSessionManager(app=flows_server(service), security_settings=security)
    app.router.add_route(MCP_PATH, StreamableHTTPASGIApp(manager), include_in_schema=False)  # type: ignore[arg-type]
    # first in line: each request would otherwise be matched against every route before it
    # (the LangGraph API's included router alone takes tens of µs to say no)
    app.router.routes.insert(0, app.router.routes.pop())
    app.router.lifespan_context = _with_sessions(app.router.lifespan_context, manager)


def _with_sessions(
    lifespan: Callable[[Any], AbstractAsyncContextManager[Any]],
    manager: StreamableHTTPSessionManager,
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    @asynccontextmanager
    async def both(app: Any) -> AsyncIterator[Any]:
        async with manager.run(), lifespan(app) as state:
            yield state

    return both
