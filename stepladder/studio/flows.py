"""The studio's flows area: JSON under `/api/flows` and its pages."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from stepladder.studio.pages import page

__all__ = ["router"]

router = APIRouter()


@router.get("/flows", include_in_schema=False, name="flows_page")
async def flows_page(request: Request) -> HTMLResponse:
    """The flows page."""
    return page(request, "flows.html")
