"""Serving the studio's static pages with a `<base href>` that fits where the app is mounted."""

from __future__ import annotations

from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["STATIC_DIR", "page"]

STATIC_DIR = Path(__file__).parent / "static"
BASE_MARKER = "<!--base-->"


def page(request: Request, name: str) -> HTMLResponse:
    """The page `static/<name>`, its `<!--base-->` marker replaced by the app's base URL.

    Relative links and `fetch("api/...")` then resolve under the mount point (`/studio/`).
    """
    html = (STATIC_DIR / name).read_text(encoding="utf-8")
    # the mount point (`/studio` under `stepladder serve`, behind any proxy prefix), else `/`;
    # not `url_for`, which a mounted app resolves against the outer app's routes
    base = str(request.scope.get("root_path", "")).rstrip("/") + "/"
    return HTMLResponse(html.replace(BASE_MARKER, f'<base href="{escape(base)}">', 1))
