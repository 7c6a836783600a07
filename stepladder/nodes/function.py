"""The `function` node: calls a Python callable (sync or async) by reference.

The callable receives the node's `reads` as keyword arguments (and the run context as
`context`, if it has a parameter of that name) and returns a dict of its `writes`, or the
bare value when it writes exactly one key.

A synchronous callable runs on the event loop, unless the node sets `in_thread` (a worker
thread) or the run sets `SYNC_NODE_EXECUTOR` (the service does: a synchronous callable then
runs in its thread pool, so a slow one does not stall other requests). Handing a call to a
worker thread and back costs about 0.1 ms, more than a quick callable takes: a node whose last
`QUICK_STREAK` calls in the pool each took under `QUICK_S` runs on the event loop instead, until
one call there takes over `SLOW_S`; from then on it always runs in the pool (`Pace`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import time
from collections.abc import Callable
from concurrent.futures import Executor
from contextvars import ContextVar
from typing import Any, Literal

from langgraph.runtime import Runtime
from pydantic import Field

from stepladder.errors import FlowCompileError, NodeError, StepladderError
from stepladder.nodes.base import BuildContext, BuiltNode, NodeSpecBase, State, check_updates
from stepladder.nodes.context import RunContext
from stepladder.specs.references import REFERENCE_PATTERN

__all__ = ["SYNC_NODE_EXECUTOR", "FunctionNodeSpec", "Pace", "function_node"]

CONTEXT_PARAMETER = "context"
SYNC_NODE_EXECUTOR: ContextVar[Executor | None] = ContextVar(
    "stepladder_sync_node_executor", default=None
)
"""Where synchronous function nodes of the current run run (None: on the event loop)."""
QUICK_S = 0.002
"""A call in the pool under this many seconds (wall time, waits for the GIL included) is quick."""
QUICK_STREAK = 16
"""Quick calls in a row, in the pool, after which a node runs on the event loop."""
SLOW_S = 0.005
"""A call on the event loop over this many seconds sends its node back to the pool for good."""


class Pace:
    """Where a synchronous node's calls run when the run has an executor: pool or event loop.

    Calls go to the pool until `QUICK_STREAK` of them in a row were quick; then they run on the
    event loop, where a call that takes over `SLOW_S` (it blocked, or the input made it slow)
    sends the node back to the pool for the life of the process: a node stalls the event loop
    at most once, for one call. Updated from worker threads without a lock: a lost count only
    delays the switch.
    """

    __slots__ = ("inline", "slow", "streak")

    def __init__(self) -> None:
        self.inline = False
        self.slow = False
        self.streak = 0

    def pooled(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run `call` (on a worker thread) and count whether it was quick."""
        started = time.perf_counter()
        try:
            return call()
        finally:
            quick = time.perf_counter() - started < QUICK_S
            self.streak = self.streak + 1 if quick else 0
            if self.streak >= QUICK_STREAK and not self.slow:
                self.inline = True

    def on_loop(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run `call` on the event loop; a slow one sends the node back to the pool."""
        started = time.perf_counter()
        try:
            return call()
        finally:
            if time.perf_counter() - started > SLOW_S:
                self.slow = True
                self.inline = False


class FunctionNodeSpec(NodeSpecBase):
    """A node that calls a Python function."""

    kind: Literal["function"]
    call: str = Field(
        pattern=REFERENCE_PATTERN,
        description="The callable as 'module:attr', relative to the project folder.",
    )
    in_thread: bool = Field(
        default=False,
        description="Run a synchronous callable in a worker thread (for blocking I/O).",
    )

    def build(self, context: BuildContext) -> BuiltNode:
        """Resolve the callable and wrap it as a node."""
        fn = context.resolver.resolve(self.call, (*context.path, "call"))
        where = context.where("call")
        if not callable(fn):
            raise FlowCompileError(
                f"{where}: '{self.call}' is a {type(fn).__name__}, not callable."
            )
        return function_node(
            self.id, fn, self.reads, self.writes, in_thread=self.in_thread, where=where
        )


def function_node(
    node_id: str,
    fn: Callable[..., Any],
    reads: list[str],
    writes: list[str],
    *,
    in_thread: bool = False,
    where: str = "",
) -> BuiltNode:
    """Wrap `fn` as a node that passes its reads as keyword arguments.

    Raises:
        FlowCompileError: If `fn`'s parameters do not match the declared reads.
    """
    wants_context = _check_signature(node_id, fn, reads, where)
    read_keys = tuple(reads)
    write_keys = frozenset(writes)

    def arguments(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        kwargs = {key: state.get(key) for key in read_keys}
        if wants_context:
            kwargs[CONTEXT_PARAMETER] = runtime.context
        return kwargs

    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    ):

        async def run_async(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
            try:
                result = await fn(**arguments(state, runtime))
            except StepladderError:
                raise
            except Exception as error:
                raise NodeError(node_id, f"{type(error).__name__}: {error}") from error
            return check_updates(node_id, write_keys, result)

        return BuiltNode(afunc=run_async)

    def run_sync(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        try:
            result = fn(**arguments(state, runtime))
        except StepladderError:
            raise
        except Exception as error:
            raise NodeError(node_id, f"{type(error).__name__}: {error}") from error
        return check_updates(node_id, write_keys, result)

    if in_thread:

        async def run_in_thread(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
            return await asyncio.to_thread(run_sync, state, runtime)

        return BuiltNode(afunc=run_in_thread, func=run_sync)

    pace = Pace()

    async def run_inline(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        executor = SYNC_NODE_EXECUTOR.get()
        if executor is None:
            return run_sync(state, runtime)
        call = functools.partial(run_sync, state, runtime)
        if pace.inline:
            return pace.on_loop(call)
        pooled = functools.partial(contextvars.copy_context().run, pace.pooled, call)
        return await asyncio.get_running_loop().run_in_executor(executor, pooled)

    return BuiltNode(afunc=run_inline, func=run_sync)


def _check_signature(node_id: str, fn: Callable[..., Any], reads: list[str], where: str) -> bool:
    """Check `fn` accepts the reads as keywords; return whether it wants the run context."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    accepted = {
        name
        for name, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    label = where or f"node '{node_id}'"
    missing = [key for key in reads if key not in accepted and not takes_any]
    if missing:
        raise FlowCompileError(
            f"{label}: {getattr(fn, '__name__', fn)!s} does not accept read key(s) "
            f"{', '.join(missing)} as keyword arguments; its parameters are: "
            f"{', '.join(parameters) or '(none)'}. Rename the parameters or change `reads`."
        )
    required = [
        name
        for name, p in parameters.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and name not in reads
        and name != CONTEXT_PARAMETER
    ]
    if required:
        raise FlowCompileError(
            f"{label}: {getattr(fn, '__name__', fn)!s} requires parameter(s) "
            f"{', '.join(required)} that the node does not read; declared reads: "
            f"{', '.join(reads) or '(none)'}. Add them to `reads` or give them defaults."
        )
    return CONTEXT_PARAMETER in accepted and CONTEXT_PARAMETER not in reads
