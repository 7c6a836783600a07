"""Wrapping a built node so each execution is a span with its inputs, output and cost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.runtime import Runtime

from stepladder.nodes.base import BuiltNode, NodeSpecBase, State
from stepladder.nodes.context import RunContext
from stepladder.tracing import attributes as names
from stepladder.tracing import node_span, set_preview

__all__ = ["traced"]


def traced(node: NodeSpecBase, built: BuiltNode) -> BuiltNode:
    """`built`, opening a node span per execution when the run is traced (else untouched)."""
    kind = str(getattr(node, "kind", "node"))
    inner_async, inner_sync = built.afunc, built.func

    async def run_async(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        if context is None or context.tracing is None:
            return await inner_async(state, runtime)
        with _node_scope(context, node, kind, state) as finish:
            return finish(await inner_async(state, runtime))

    def run_sync(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        assert inner_sync is not None
        if context is None or context.tracing is None:
            return inner_sync(state, runtime)
        with _node_scope(context, node, kind, state) as finish:
            return finish(inner_sync(state, runtime))

    return BuiltNode(afunc=run_async, func=run_sync if inner_sync is not None else None)


@contextmanager
def _node_scope(
    context: RunContext, node: NodeSpecBase, kind: str, state: State
) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """Open the node's span; yield a function that records the update (and passes it on)."""
    before = context.usage.count()
    inputs = {key: state.get(key) for key in node.reads}
    with node_span(context.tracing, context.flow_name, node.id, kind, inputs) as span:

        def finish(update: dict[str, Any]) -> dict[str, Any]:
            if span.is_recording():
                set_preview(context.tracing, span, names.OUTPUT, update)
                _put_cost(context, span, node.id, before)
            return update

        yield finish


def _put_cost(context: RunContext, span: Any, node_id: str, before: int) -> None:
    """The cost and retries of the node's model calls, when it made any."""
    if context.usage.count() == before:
        return
    mine = [c for c in context.usage.since(before) if c.node_id == node_id]
    if mine:
        span.set_attribute(names.COST_USD, sum(c.cost_usd for c in mine))
        span.set_attribute(names.RETRIES, sum(1 for c in mine if c.attempt > 1))
