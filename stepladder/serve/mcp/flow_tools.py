"""A served flow as an MCP tool: its schemas, and a run's record as the tool's result.

The input schema is the flow's input model (JSON Schema 2020-12), the output schema its
state's. A finished run's result is its final state as structured content; a run paused for
a person names the review to answer (and where); a failed run, or input that does not fit,
is an `isError` result whose text names the problem (never a protocol error).
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types

from stepladder.flows import Flow
from stepladder.serve.errors import ServeError
from stepladder.serve.runs import RunRecord
from stepladder.serve.schemas import run_model

__all__ = ["SCHEMA_DIALECT", "error_result", "flow_tool", "run_result"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def flow_tool(flow: Flow) -> types.Tool:
    """The MCP tool that runs `flow`."""
    return types.Tool(
        name=flow.name,
        title=flow.name,
        description=flow.spec.description or f"Run the flow '{flow.name}'.",
        input_schema=_object_schema(flow.input_model.model_json_schema()),
        output_schema=_object_schema(_state_schema(flow)),
    )


def _state_schema(flow: Flow) -> dict[str, Any]:
    state = run_model(flow).model_fields["state"].annotation
    schema: dict[str, Any] = state.model_json_schema()  # type: ignore[union-attr]
    return schema


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": SCHEMA_DIALECT, **schema, "type": "object"}


def run_result(record: RunRecord) -> types.CallToolResult:
    """A finished or paused run as the tool's result (its state as structured content)."""
    view = record.view()
    state = view["state"]
    if record.status == "paused":
        reviews = view["reviews"]
        named = "; ".join(
            f"review '{r['interrupt_id']}' of node '{r['node']}' ({r['reason']})" for r in reviews
        )
        text = (
            f"The run paused for a person: {named}. Answer it with POST {view['resume']} "
            f"(or `stepladder review resolve {record.run_id}`); its thread is "
            f"'{record.run_id}'."
        )
        meta = {"stepladder/run": {"status": "paused", "run_id": record.run_id,
                                    "reviews": reviews}}  # fmt: skip
        return types.CallToolResult(
            content=[types.TextContent(text=text)], structured_content=state, _meta=meta
        )
    text = json.dumps(state, ensure_ascii=False, default=str)
    meta = {"stepladder/run": {"status": record.status, "run_id": record.run_id,
                                "trace_id": record.trace_id}}  # fmt: skip
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=state, _meta=meta
    )


def error_result(error: ServeError) -> types.CallToolResult:
    """A failed run (or refused input) as an `isError` result naming the problem."""
    return types.CallToolResult(
        content=[types.TextContent(text=f"{error.error}: {error.detail}")],
        is_error=True,
    )
