"""The studio's runs area: JSON under `/api/runs` and its pages."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from stepladder.studio.pages import page

__all__ = ["router"]

router = APIRouter()


@router.get("/runs", include_in_schema=False, name="runs_page")
async def runs_page(request: Request) -> HTMLResponse:
    """The runs page."""
    return page(request, "runs.html")
