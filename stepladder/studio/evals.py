"""The studio's evals area: JSON under `/api/evals` and its pages.

- `GET /api/evals`: the eval runs (newest first, then baselines) with their main metrics.
- `GET /api/evals/compare?a=BASELINE&b=CANDIDATE`: the cases whose score changed and the
  verdict of `stepladder eval compare A B --gate` (options `alpha`, `max_cost_increase`,
  `max_latency_increase` as the command's).
- `GET /api/evals/{run_id}`: one run: metrics with intervals, tags, cost, latency, every case.

Pages: `/evals`, `/evals/compare?a=&b=`, `/evals/{run_id}`. An unknown run is a 404 whose JSON
`detail` names the runs there are; a bad option a 400.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from stepladder.errors import UserError
from stepladder.studio.context import StudioContext, studio_context
from stepladder.studio.eval_compare import GateOptions, compare_detail
from stepladder.studio.eval_runs import EvalRunNotFound, list_runs, load_run, run_detail
from stepladder.studio.pages import page

__all__ = ["router"]

router = APIRouter()
Context = Annotated[StudioContext, Depends(studio_context)]


def _error(status: int, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=status)


@router.get("/api/evals", name="evals_api")
def evals_api(context: Context) -> dict[str, Any]:
    """Every eval run of the project, with its main metrics, cost and latency."""
    return list_runs(context.project)


@router.get("/api/evals/compare", name="eval_compare_api", response_model=None)
def eval_compare_api(
    context: Context,
    a: Annotated[str | None, Query(description="The baseline run.")] = None,
    b: Annotated[str | None, Query(description="The candidate run.")] = None,
    alpha: float | None = None,
    max_cost_increase: float | None = None,
    max_latency_increase: float | None = None,
) -> dict[str, Any] | JSONResponse:
    """Run `b` against baseline `a`: changed cases side by side, and the gate's verdict."""
    if not a or not b:
        return _error(400, UserError("name two eval runs: ?a=BASELINE_RUN&b=CANDIDATE_RUN"))
    try:
        baseline = load_run(context.project, a)
        candidate = load_run(context.project, b)
        options = GateOptions(alpha, max_cost_increase, max_latency_increase)
        return compare_detail(context.project, baseline, candidate, options)
    except EvalRunNotFound as error:
        return _error(404, error)
    except UserError as error:
        return _error(400, error)


@router.get("/api/evals/{run_id}", name="eval_api", response_model=None)
def eval_api(run_id: str, context: Context) -> dict[str, Any] | JSONResponse:
    """One eval run: metrics with intervals, per tag, cost and latency, and every case."""
    try:
        return run_detail(context.project, load_run(context.project, run_id))
    except EvalRunNotFound as error:
        return _error(404, error)
    except UserError as error:
        return _error(422, error)


@router.get("/evals", include_in_schema=False, name="evals_page")
async def evals_page(request: Request) -> HTMLResponse:
    """The list of eval runs."""
    return page(request, "evals.html")


@router.get("/evals/compare", include_in_schema=False, name="eval_compare_page")
async def eval_compare_page(request: Request) -> HTMLResponse:
    """Two eval runs compared case by case, with the gate's verdict."""
    return page(request, "compare.html")


@router.get("/evals/{run_id}", include_in_schema=False, name="eval_page")
async def eval_page(request: Request, run_id: str) -> HTMLResponse:
    """One eval run: metrics, tags, cost and latency, and its cases."""
    return page(request, "eval.html")
