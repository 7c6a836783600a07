"""The `human` rung: a node hands its case to a person through LangGraph's `interrupt`.

The run pauses (its checkpoint keeps everything computed so far) with a payload that says
what to review: the node, why it escalated, its inputs, the last candidate output and the
JSON Schema of the output fields. `Command(resume=answer)` continues it: LangGraph runs the
node again from its start, so a node that finds a resume value waiting for it goes straight
to the hand-off, where `interrupt` returns the answer (validated against the output fields),
and makes no model call again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langgraph.config import get_config
from langgraph.types import interrupt
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from stepladder.errors import ReviewRequired
from stepladder.nodes.context import RunContext

__all__ = ["ask_human", "is_checkpointed", "resume_waiting"]

# LangGraph's per-task config keys (the values `interrupt` itself reads).
_SCRATCHPAD = "__pregel_scratchpad"
_CHECKPOINTER = "__pregel_checkpointer"


def _configurable() -> dict[str, Any]:
    try:
        return dict(get_config().get("configurable") or {})
    except RuntimeError:  # not inside a LangGraph run
        return {}


def is_checkpointed() -> bool:
    """Whether the running graph has a checkpointer (so an interrupt can be resumed)."""
    return _configurable().get(_CHECKPOINTER) is not None


def resume_waiting() -> bool:
    """Whether a resume value (a reviewer's answer) waits for the running task."""
    scratchpad = _configurable().get(_SCRATCHPAD)
    if scratchpad is None:
        return False
    return bool(scratchpad.resume) or scratchpad.get_null_resume(False) is not None


def ask_human(
    context: RunContext,
    node_id: str,
    outputs: type[BaseModel],
    *,
    reason: str,
    detail: str,
    inputs: dict[str, Any],
    candidate: Any,
    candidate_tier: str | None,
) -> dict[str, Any]:
    """Pause the run for a reviewer's answer, and return it once the run is resumed.

    Raises:
        ReviewRequired: When the run has no checkpointer to pause on.
        pydantic.ValidationError: When the answer does not fit the output fields (LangGraph
            saves nothing then, so the review can be answered again).
    """
    if not is_checkpointed():
        raise ReviewRequired(
            node_id,
            f"awaits human review ({reason}: {detail}), but the run has no checkpoint thread "
            "to pause on. Run it with `stepladder run FLOW --thread ID` (stepladder run gives "
            "such flows a thread itself), or pass thread_id and checkpoint_db to run_flow.",
            reason=reason,
        )
    resuming = resume_waiting()
    payload = {
        "node": node_id,
        "flow": context.flow_name,
        "reason": reason,
        "detail": detail,
        "inputs": to_jsonable_python(inputs, fallback=repr),
        "candidate": to_jsonable_python(candidate, fallback=repr),
        "candidate_tier": candidate_tier,
        "schema": outputs.model_json_schema(),
        "asked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not resuming:
        context.usage.record_handoff(node_id, reason)
    answer = interrupt(payload, response_schema=outputs)
    return answer.model_dump() if isinstance(answer, BaseModel) else dict(answer)
