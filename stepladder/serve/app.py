"""`create_app`: the FastAPI application serving a project's flows.

```
POST /flows/{flow}/runs     GET /flows     GET /runs/{id}     POST /runs/{id}/resume
GET  /healthz               GET /metrics   GET /openapi.json  GET /docs
```
Errors are one JSON body (`{"error": kind, "detail": message}`); input that does not fit a
flow's input schema is a 422 naming each field (`loc`), as FastAPI reports it, plus `message`.
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

from stepladder import __version__
from stepladder.serve.auth import TOKEN_VARIABLE, BearerAuth
from stepladder.serve.errors import ServeError
from stepladder.serve.health import health
from stepladder.serve.metrics import CONTENT_TYPE
from stepladder.serve.routes import add_flow_routes, add_run_routes
from stepladder.serve.service import Service
from stepladder.serve.streaming import RUN_ID_HEADER

__all__ = ["create_app"]


def create_app(
    service: Service,
    *,
    token: str | None = None,
    token_variable: str = TOKEN_VARIABLE,
    warm: bool = False,
) -> FastAPI:
    """The application serving `service`'s flows.

    Args:
        service: The flows and what their runs share (closed when the app shuts down).
        token: When given, every request but `/healthz` needs `Authorization: Bearer <token>`.
        token_variable: The environment variable the token came from (for messages).
        warm: Start the flows' model tiers when the app starts, not on first use.
    """
    app = FastAPI(
        title=f"stepladder: {service.project.settings.name}",
        description="Run the project's flows; each flow's input and state are typed below.",
        version=__version__,
        lifespan=_lifespan(service, warm),
    )
    add_flow_routes(app, service)
    add_run_routes(app, service)
    _add_operations(app, service)
    app.add_exception_handler(ServeError, _serve_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_input)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    if token:
        app.add_middleware(BearerAuth, token=token, variable=token_variable)
        _document_bearer(app)
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
        """The service is up; how each model tier the flows use is doing."""
        report = await health(service)
        degraded = strict and report["status"] != "ok"
        return JSONResponse(report, status_code=503 if degraded else 200)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus metrics: runs, errors, latency, tokens, cost, escalations."""
        return PlainTextResponse(service.metrics.render(), media_type=CONTENT_TYPE)


async def _serve_error(request: Request, error: ServeError) -> JSONResponse:
    run_id = error.extra.get("run_id")
    headers = {RUN_ID_HEADER: str(run_id)} if run_id else None
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Starlette's own errors (404 for an unknown path, 405) in the service's shape."""
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


def _document_bearer(app: FastAPI) -> None:
    """Say in the OpenAPI document that requests need a bearer token."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes,
            )  # fmt: skip
            components = schema.setdefault("components", {})
            components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
