"""`create_studio_app`: the studio's FastAPI application for one project.

Each area is its own module with an `APIRouter` (`runs`, `evals`, `flows`): JSON under
`/api/...` and its pages. Pages are static HTML files in `static/` that fetch that JSON; links
are relative to the `<base href>` `pages.page` writes, so the app works mounted at `/studio`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from stepladder.studio import evals, flows, runs
from stepladder.studio.context import StudioContext
from stepladder.studio.pages import STATIC_DIR

__all__ = ["create_studio_app"]


def create_studio_app(project_root: Path | str) -> FastAPI:
    """The studio over the project at `project_root` (its runs, traces, evals and flows)."""
    app = FastAPI(title="stepladder studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = StudioContext.open(Path(project_root))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(runs.router)
    app.include_router(evals.router)
    app.include_router(flows.router)

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        # relative to the mount point: `url_for` would look in an outer app's routes
        return RedirectResponse(str(request.scope.get("root_path", "")).rstrip("/") + "/runs")

    return app
