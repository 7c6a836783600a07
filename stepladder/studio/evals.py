"""The studio's evals area: JSON under `/api/evals` and its pages."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from stepladder.studio.pages import page

__all__ = ["router"]

router = APIRouter()


@router.get("/evals", include_in_schema=False, name="evals_page")
async def evals_page(request: Request) -> HTMLResponse:
    """The evals page."""
    return page(request, "evals.html")
