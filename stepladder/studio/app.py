"""`create_studio_app`: the studio's FastAPI application for one project.

Each area is its own module with an `APIRouter` (`runs`, `evals`, `flows`): JSON under
`/api/...` and its pages. Pages are static HTML files in `static/` that fetch that JSON; links
are relative to the `<base href>` `pages.page` writes, so the app works mounted at `/studio`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from stepladder.studio import evals, flows, runs
from stepladder.studio.context import StudioContext
from stepladder.studio.flow_service import StudioFlows
from stepladder.studio.pages import STATIC_DIR

if TYPE_CHECKING:
    from stepladder.serve import Service

__all__ = ["create_studio_app"]


def create_studio_app(project_root: Path | str, service: Service | None = None) -> FastAPI:
    """The studio over the project at `project_root` (its runs, traces, evals and flows).

    Args:
        project_root: The project folder.
        service: The serve `Service` that runs flows from the studio (`stepladder serve`
            passes its own, and closes it). Without one, the studio makes its own on first
            use (compiling the project's flows) and closes it when the app shuts down.
    """
    context = StudioContext.open(Path(project_root))
    runner = StudioFlows(service.project if service is not None else context.project, service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await runner.close()

    app = FastAPI(
        title="stepladder studio", docs_url=None, redoc_url=None, openapi_url=None,
        lifespan=lifespan,
    )  # fmt: skip
    app.state.studio = context
    app.state.studio_flows = runner
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(runs.router)
    app.include_router(evals.router)
    app.include_router(flows.router)

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        # relative to the mount point: `url_for` would look in an outer app's routes
        return RedirectResponse(str(request.scope.get("root_path", "")).rstrip("/") + "/runs")

    return app
