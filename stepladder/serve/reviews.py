"""Answering a paused run (a node handed its case to a person): `POST /runs/{id}/resume`.

The pending reviews are read from the project's checkpoint database (where `run_flow` keeps
them), so a run paused before a restart, or by `stepladder run`, can be answered here too.
The answer's keys are checked against the node's output fields first (422 naming the field);
its values are checked when the run resumes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError

from stepladder.flows import Flow, PendingReview
from stepladder.flows.reviews import load_reviews, pending_nodes
from stepladder.serve.errors import ServeError
from stepladder.serve.schemas import ResumeRequest
from stepladder.serve.service import Service

__all__ = ["answer_for"]


async def answer_for(
    service: Service, run_id: str, request: ResumeRequest
) -> tuple[Flow, dict[str, Any]]:
    """The flow of the paused run and its `resume` mapping (interrupt id -> answer).

    Raises:
        ServeError: 404 for an unknown run or a flow not served; 409 when the run waits
            for no review.
        RequestValidationError: When `node` or the answer's fields do not fit.
    """
    reviews = await asyncio.to_thread(
        load_reviews, service.checkpoint_db, run_id, postgres=service.postgres
    )
    if not reviews:
        known = await service.find_run(run_id)
        if known is None:
            raise ServeError(404, "unknown_run", f"no run '{run_id}'.", run_id=run_id)
        raise ServeError(
            409, "not_paused",
            f"run '{run_id}' is {known.status}; it waits for no review.", run_id=run_id,
        )  # fmt: skip
    review = _pick(reviews, request.node)
    _check_answer(review, request.answer)
    flow = service.flows.get(review.flow)
    if flow is None:
        raise ServeError(
            404, "unknown_flow",
            f"run '{run_id}' is a run of flow '{review.flow}', which this service does not "
            f"serve (flows: {', '.join(sorted(service.flows)) or 'none'}).", run_id=run_id,
        )  # fmt: skip
    return flow, {review.interrupt_id: request.answer}


def _pick(reviews: Sequence[PendingReview], node: str | None) -> PendingReview:
    waiting = pending_nodes(reviews)
    if node is not None:
        for review in reviews:
            if review.node == node:
                return review
        _invalid(("body", "node"), f"no review of node '{node}' waits here ({waiting})", node)
    if len(reviews) > 1:
        _invalid(("body", "node"), f"several reviews wait ({waiting}); name the node", None)
    return reviews[0]


def _check_answer(review: PendingReview, answer: dict[str, Any]) -> None:
    unknown, missing = review.answer_keys(answer)
    fields = ", ".join(review.fields)
    errors = [
        _error(("body", "answer", key), f"not an output of node '{review.node}' ({fields})",
               answer[key], "extra_forbidden")
        for key in unknown
    ]  # fmt: skip
    errors += [
        _error(("body", "answer", key), f"Field required (node '{review.node}': {fields})",
               answer, "missing")
        for key in missing
    ]  # fmt: skip
    if errors:
        raise RequestValidationError(errors)


def _invalid(loc: tuple[str, ...], message: str, value: Any) -> None:
    raise RequestValidationError([_error(loc, message, value, "value_error")])


def _error(loc: tuple[str, ...], message: str, value: Any, kind: str) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": message, "input": value}
