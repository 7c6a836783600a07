"""`GET /docs` and `GET /redoc` served offline: Swagger UI's and ReDoc's files ship in the wheel.

FastAPI's own pages load their scripts from a CDN, so they are blank without internet. These
pages load the same scripts from the `fastapi-offline` package (Swagger UI under Apache-2.0,
ReDoc under MIT, as that package's licence says), served by the app under `/docs/assets/`.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
    swagger_ui_default_parameters,
)
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "add_docs"]

ASSETS_PATH = "/docs/assets"
"""Where the pages' scripts, style sheet and icon are served."""

# No request to the public validator (Swagger UI's default badge would call it).
SWAGGER_PARAMETERS = {**swagger_ui_default_parameters, "validatorUrl": None}


def add_docs(app: FastAPI) -> None:
    """Serve Swagger UI at `/docs` and ReDoc at `/redoc` from local files.

    The app must be created with `docs_url=None, redoc_url=None` (FastAPI's CDN pages off).
    """
    assets = resources.files("fastapi_offline") / "static"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(assets)), name="docs-assets")
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
