"""`recorded`: the wrapper around a built node that records its calls and replays them.

Outside a replay session (`stepladder.replay.session`) the wrapper only looks the session up
and calls the node. Inside one, a call whose key the session's record holds returns the
recorded update (revived to the state's declared types) without running the node; any other
call runs, and a recording session keeps its inputs, update, time, cost and model exchanges.
A call that pauses for a human review, or fails, is not recorded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from langgraph.runtime import Runtime
from pydantic import TypeAdapter

from stepladder.nodes import BuildContext, BuiltNode, NodeSpecBase, RunContext
from stepladder.nodes.base import State
from stepladder.replay.exchanges import ExchangeLog, capture
from stepladder.replay.keys import NodeDefinition, calls_models
from stepladder.replay.session import PendingCall, ReplaySession, current_session
from stepladder.runtimes.usage import ModelCall, calls_made
from stepladder.specs.type_expressions import unannotated

__all__ = ["recorded"]


def recorded(node: NodeSpecBase, built: BuiltNode, context: BuildContext) -> BuiltNode:
    """`built`, recorded and replayed inside a replay session (else untouched)."""
    inner_async, inner_sync = built.afunc, built.func
    call = _NodeCalls(node, context)

    async def run_async(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        session, run = current_session(), runtime.context
        if session is None or run is None:
            return await inner_async(state, runtime)
        pending = session.begin(call.definition(), state, run)
        if pending.hit is not None:
            return call.revive(pending.hit.outputs)
        log, started = ExchangeLog(), time.perf_counter()
        with call.capturing(session, log), calls_made() as made:
            update = await inner_async(state, runtime)
        call.finish(session, pending, update, started, made, log)
        return update

    def run_sync(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        assert inner_sync is not None
        session, run = current_session(), runtime.context
        if session is None or run is None:
            return inner_sync(state, runtime)
        pending = session.begin(call.definition(), state, run)
        if pending.hit is not None:
            return call.revive(pending.hit.outputs)
        log, started = ExchangeLog(), time.perf_counter()
        with call.capturing(session, log), calls_made() as made:
            update = inner_sync(state, runtime)
        call.finish(session, pending, update, started, made, log)
        return update

    return BuiltNode(
        afunc=run_async, func=run_sync if inner_sync is not None else None, prepare=built.prepare
    )


class _NodeCalls:
    """What the wrapper of one node keeps: its definition and how to revive its outputs."""

    def __init__(self, node: NodeSpecBase, context: BuildContext) -> None:
        self.node = node
        self.context = context
        self.calls_models = calls_models(node)
        self._definition: NodeDefinition | None = None
        self._adapters: dict[str, TypeAdapter[Any]] = {}

    def definition(self) -> NodeDefinition:
        """The node's definition hashes (made on the first call: they read source files)."""
        if self._definition is None:
            self._definition = NodeDefinition(self.node, self.context)
        return self._definition

    def revive(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """A recorded update with each value validated back to its key's declared type."""
        update: dict[str, Any] = {}
        for key, value in outputs.items():
            adapter = self._adapters.get(key)
            if adapter is None:
                declared = self.context.state_types.get(key, Any)
                adapter = self._adapters[key] = TypeAdapter(unannotated(declared))
            update[key] = adapter.validate_python(value)
        return update

    def capturing(self, session: ReplaySession, log: ExchangeLog) -> AbstractContextManager[Any]:
        """Listen to the node's model calls when recording an LLM node."""
        return capture(log) if session.record and self.calls_models else nullcontext()

    def finish(
        self,
        session: ReplaySession,
        pending: PendingCall,
        update: Any,
        started: float,
        made: list[ModelCall],
        log: ExchangeLog,
    ) -> None:
        """Hand the finished call to the session, with its time, cost and model calls.

        Only the model calls made inside this call count (`calls_made`), so the elements of
        a mapped node running at once do not count each other's.
        """
        seconds = time.perf_counter() - started
        mine = [c for c in made if c.node_id == self.node.id]
        usage = (sum(c.cost_usd for c in mine), len(mine))
        outputs = update if isinstance(update, Mapping) else {}
        session.finished(pending, outputs, seconds, usage, log.exchanges)
