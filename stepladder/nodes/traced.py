"""Wrapping a built node so each execution is a span with its inputs, output and cost."""

from __future__ import annotations

from typing import Any

from langgraph.errors import GraphInterrupt
from langgraph.runtime import Runtime

from stepladder.nodes.base import BuiltNode, NodeSpecBase, State
from stepladder.nodes.context import RunContext
from stepladder.tracing import attributes as names
from stepladder.tracing import node_span, set_preview

__all__ = ["traced"]


def traced(node: NodeSpecBase, built: BuiltNode) -> BuiltNode:
    """`built`, opening a node span per execution when the run is traced (else untouched)."""
    kind = node.kind_name()
    inner_async, inner_sync = built.afunc, built.func

    # Two plain bodies rather than one generator context manager: this runs once per node.
    async def run_async(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        if context is None or context.tracing is None:
            return await inner_async(state, runtime)
        before = context.usage.count()
        inputs = {key: state.get(key) for key in node.reads}
        paused: GraphInterrupt | None = None
        with node_span(context.tracing, context.flow_name, node.id, kind, inputs) as span:
            try:
                update = await inner_async(state, runtime)
            except GraphInterrupt as interrupt:  # a pause for a human review, not a failure
                paused = interrupt
                span.set_attribute(names.RUN_STATUS, "paused")
            else:
                _finish(context, span, node.id, update, before)
        if paused is not None:
            raise paused
        return update

    def run_sync(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        assert inner_sync is not None
        if context is None or context.tracing is None:
            return inner_sync(state, runtime)
        before = context.usage.count()
        inputs = {key: state.get(key) for key in node.reads}
        with node_span(context.tracing, context.flow_name, node.id, kind, inputs) as span:
            update = inner_sync(state, runtime)
            _finish(context, span, node.id, update, before)
            return update

    return BuiltNode(afunc=run_async, func=run_sync if inner_sync is not None else None)


def _finish(context: RunContext, span: Any, node_id: str, update: Any, before: int) -> None:
    if not span.is_recording():
        return
    set_preview(context.tracing, span, names.OUTPUT, update)
    if context.usage.count() == before:
        return
    mine = [c for c in context.usage.since(before) if c.node_id == node_id]
    if mine:
        span.set_attribute(names.COST_USD, sum(c.cost_usd for c in mine))
        span.set_attribute(names.RETRIES, sum(1 for c in mine if c.attempt > 1))
