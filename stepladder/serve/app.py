"""`create_app`: the FastAPI application serving a project's flows.

```
POST /flows/{flow}/runs     GET /flows     GET /runs/{id}     POST /runs/{id}/resume
GET  /healthz               GET /metrics   GET /openapi.json  GET /docs (offline)  GET /redoc
```
The LangGraph SDK's client works against it too (`stepladder.serve.langgraph_api`).
Errors are one JSON body (`{"error": kind, "detail": message}`); input that does not fit a
flow's input schema is a 422 naming each field (`loc`), as FastAPI reports it, plus `message`.
A body that is not JSON text (not UTF-8, nested too deep) is a 422 too; one over the size
limit a 413; one not sent as JSON a 415 (see `guard`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, PlainTextResponse, Response

from stepladder.errors import StateStoreError
from stepladder.serve.auth import TOKEN_VARIABLE, BearerAuth
from stepladder.serve.docs import add_docs
from stepladder.serve.errors import ServeError, failure_of
from stepladder.serve.guard import BodyTooLarge, RequestGuard, header_safe
from stepladder.serve.health import health
from stepladder.serve.langgraph_api import add_langgraph_routes
from stepladder.serve.metrics import CONTENT_TYPE
from stepladder.serve.routes import add_flow_routes, add_run_routes
from stepladder.serve.schemas import stream_components
from stepladder.serve.service import Service
from stepladder.serve.streaming import RUN_ID_HEADER
from stepladder.version import __version__

__all__ = ["create_app"]


def create_app(
    service: Service,
    *,
    token: str | None = None,
    token_variable: str = TOKEN_VARIABLE,
    warm: bool = False,
    max_body: int | None = None,
) -> FastAPI:
    """The application serving `service`'s flows.

    Args:
        service: The flows and what their runs share (closed when the app shuts down).
        token: When given, every request but `/healthz` needs `Authorization: Bearer <token>`.
        token_variable: The environment variable the token came from (for messages).
        warm: Start the flows' model tiers when the app starts, not on first use.
        max_body: The largest request body, in bytes (default: the `serve.max_body` setting).
    """
    app = FastAPI(
        title=f"stepladder: {service.project.settings.name}",
        description="Run the project's flows; each flow's input and state are typed below.",
        version=__version__,
        lifespan=_lifespan(service, warm),
        docs_url=None,  # served offline by add_docs
        redoc_url=None,
    )
    add_flow_routes(app, service)
    add_run_routes(app, service)
    _add_operations(app, service)
    add_langgraph_routes(app, service)  # the LangGraph SDK's API (not in the OpenAPI document)
    app.add_exception_handler(ServeError, _serve_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_input)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(StateStoreError, _state_error)  # type: ignore[arg-type]
    limit = max_body or service.project.settings.serve.max_body
    app.add_middleware(RequestGuard, max_body=int(limit))
    if token:
        app.add_middleware(BearerAuth, token=token, variable=token_variable)
    _document(app, bearer=bool(token))
    add_docs(app)
    return app


def _lifespan(service: Service, warm: bool) -> Any:
    """Start the tiers first when `warm`; close the service when the app stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm:
            await service.warm()
        try:
            yield
        finally:
            await service.close()

    return lifespan


def _add_operations(app: FastAPI, service: Service) -> None:
    """`GET /healthz` and `GET /metrics`."""

    @app.get("/healthz", tags=["operations"])
    async def healthz(
        strict: bool = Query(False, description="Answer 503 when a required tier is down."),
    ) -> Response:
        """The service is up; how each model tier the flows use and the state store are doing.

        A shared state store (`state.postgres`) that cannot be reached answers 503.
        """
        report = await health(service)
        unavailable = report["status"] == "unavailable" or (strict and report["status"] != "ok")
        return JSONResponse(report, status_code=503 if unavailable else 200)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus metrics: runs, errors, latency, tokens, cost, escalations."""
        return PlainTextResponse(service.metrics.render(), media_type=CONTENT_TYPE)


async def _serve_error(request: Request, error: ServeError) -> JSONResponse:
    run_id = str(error.extra.get("run_id") or "")
    headers = {RUN_ID_HEADER: run_id} if run_id and header_safe(run_id) else None
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def _state_error(request: Request, error: StateStoreError) -> JSONResponse:
    """The shared state store is down (reading a run, taking a thread): a 503, no traceback."""
    return await _serve_error(request, failure_of(error))


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Starlette's own errors (404 for an unknown path, 405) in the service's shape."""
    if isinstance(error, BodyTooLarge):
        return JSONResponse(error.body(), status_code=413, headers={"Connection": "close"})
    if error.status_code == 400 and error.__cause__ is not None:
        return _unreadable_body(error.__cause__)
    kind = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_")
    body = {"error": kind, "detail": f"{request.method} {request.url.path}: {error.detail}."}
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


async def _invalid_input(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = jsonable_encoder(error.errors())
    message = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in problems
    )
    body = {"error": "invalid_input", "message": message, "detail": problems}
    return JSONResponse(body, status_code=422)


def _unreadable_body(cause: BaseException) -> JSONResponse:
    """A 422 for a body FastAPI could not read as JSON (its 400 says only that)."""
    if isinstance(cause, RecursionError):
        why = "it is nested too deeply (arrays or objects inside each other)"
    elif isinstance(cause, UnicodeError):
        why = "it is not UTF-8 text"
    else:
        why = f"{type(cause).__name__}: {cause}"
    message = f"body: the request body is not JSON that can be read: {why}. Send a JSON object."
    problem = {"type": "json_invalid", "loc": ["body"], "msg": message, "input": None}
    body = {"error": "invalid_input", "message": message, "detail": [problem]}
    return JSONResponse(body, status_code=422)


def _document(app: FastAPI, *, bearer: bool) -> None:
    """Add the events of streamed runs to the OpenAPI document, and the bearer token if on."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes,
            )  # fmt: skip
            components = schema.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for name, definition in stream_components().items():
                schemas.setdefault(name, definition)
            if bearer:
                components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
                schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
