"""Running a compiled flow: input checks, streaming, and SQLite checkpoints that resume.

A node that escalates to a human reviewer pauses a checkpointed run: `run_flow` then returns
a `RunResult` with status `paused` and the pending reviews; `run_flow(..., resume={interrupt
id: answer})` continues it with the answer (nodes that finished are not run again).

One run at a time writes a thread, and a thread belongs to the flow of its first run
(`stepladder.flows.threads`). A run stops after `max_steps` steps (LangGraph's recursion
limit) with a `StepLimitError` that names the flow, the limit and the last nodes run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError, is_invalid_resume
from langgraph.types import Command
from pydantic import ValidationError

from stepladder.config.serving import DEFAULT_MAX_STEPS
from stepladder.errors import ConfigError, FlowInputError, ModelError, RunError, StepLimitError
from stepladder.flows.checkpoints import open_checkpointer
from stepladder.flows.flow import Flow
from stepladder.flows.map_node import EACH, public
from stepladder.flows.reviews import PendingReview, save_reviews
from stepladder.flows.threads import claim_thread, lock_thread
from stepladder.nodes import RunContext
from stepladder.retrieval.store import Store
from stepladder.runtimes import ModelPool
from stepladder.tools.mcp import McpClients
from stepladder.tracing import Tracing, run_span, set_preview
from stepladder.tracing import attributes as names
from stepladder.wording import plural

__all__ = [
    "DEFAULT_MAX_STEPS",
    "PendingReview",
    "RunResult",
    "check_collections",
    "list_mcp_tools",
    "run_flow",
    "uses_mcp",
]

UpdateHandler = Callable[[str, dict[str, Any]], None]
INTERRUPT = "__interrupt__"


@dataclass(frozen=True)
class RunResult:
    """The outcome of a run.

    Attributes:
        state: The final state.
        thread_id: The checkpoint thread, when the run was checkpointed.
        resumed_at: The nodes a resumed run continued from (empty for a fresh run).
        updates: Each node's update, in the order they happened.
        usage: Model calls, tokens, seconds and cost (total and per node) of the run.
        trace_id: The run's OpenTelemetry trace id (hex), when it was traced.
        status: `finished`, or `paused` when a node waits for a human review.
        reviews: The pending reviews of a paused run.
    """

    state: dict[str, Any]
    thread_id: str | None = None
    resumed_at: tuple[str, ...] = ()
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = None
    status: Literal["finished", "paused"] = "finished"
    reviews: tuple[PendingReview, ...] = ()

    @property
    def paused(self) -> bool:
        """Whether the run waits for a human review."""
        return self.status == "paused"


async def run_flow(
    flow: Flow,
    data: dict[str, Any] | None,
    *,
    thread_id: str | None = None,
    checkpoint_db: Path | None = None,
    on_update: UpdateHandler | None = None,
    models: ModelPool | None = None,
    store: Store | None = None,
    tracing: Tracing | None = None,
    trace_attributes: Mapping[str, str] | None = None,
    resume: Mapping[str, Any] | None = None,
    programs: Mapping[str, Any] | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    thread_held: bool = False,
    postgres: str | None = None,
    mcp: McpClients | None = None,
) -> RunResult:
    """Run `flow`, reporting each node's update; checkpoint to SQLite when given a thread.

    With a `thread_id` whose last run did not finish, the run continues after the last
    completed node (the `data` is then not used); otherwise it starts from `data`. A thread
    paused for a human review stays paused (its result lists the reviews) until `resume`
    answers them: a mapping of interrupt id (`PendingReview.interrupt_id`) to answer.

    The flow's trained artifacts are found and checked first (`Flow.prepare`), then the
    collections it searches (each must exist in `store` and hold chunks), then the model
    tiers it uses are started (through `models`, with the LoRA adapters its nodes name), so a
    missing artifact, collection, key or model, or an adapter whose base model is not its
    tier's, is reported before any node runs; the agents' MCP servers are started and their
    tools listed then too. With `tracing`, the run is one
    trace: a root span, a span per node, per model call and per retrieval;
    `trace_attributes` go on the root span (an eval run puts its run and case ids there).
    `programs` replace LLM nodes' DSPy programs for this run (an optimizer's copies).
    `max_steps` bounds the steps of the run (a loop whose exit is never taken).
    A run takes its thread (`lock_thread`, `claim_thread`) unless `thread_held` says that
    the caller holds it. With `postgres` (a URL: the project's `state.postgres`), the
    thread's checkpoints are written there instead of `checkpoint_db`. Agent nodes take
    MCP servers' tools through `mcp` (a server process's sessions); without it the run
    opens its own sessions and closes them when it ends, fails or is interrupted.

    Raises:
        FlowInputError: If the input is invalid, a thread has nothing to resume and no input,
            or a review's answer does not fit the node's output fields.
        ThreadConflictError: If another run holds the thread, or it is another flow's thread.
        FlowCompileError: If an artifact the flow uses is missing or does not fit it.
        ConfigError: If a collection the flow searches is missing or empty.
        StepLimitError: If the run took `max_steps` steps without ending.
        StateStoreError: If `postgres` cannot be reached.
        ToolServerError: If an MCP server an agent uses cannot start, or went away.
    """
    if mcp is None and uses_mcp(flow):
        own = McpClients(flow.project_root)
        try:
            return await run_flow(
                flow, data, thread_id=thread_id, checkpoint_db=checkpoint_db,
                on_update=on_update, models=models, store=store, tracing=tracing,
                trace_attributes=trace_attributes, resume=resume, programs=programs,
                max_steps=max_steps, thread_held=thread_held, postgres=postgres, mcp=own,
            )  # fmt: skip
        finally:
            await own.aclose()
    flow.prepare()
    check_collections(flow, store)
    if mcp is not None:  # the agents' MCP tools, listed before any node runs
        await list_mcp_tools(flow, mcp)
    context = replace(
        flow.context(models, store, tracing, programs),
        trace_attributes=dict(trace_attributes or {}),
        mcp=mcp,
    )
    config: RunnableConfig = {"recursion_limit": max_steps}
    if thread_id is None:
        if resume is not None:
            raise ValueError("answering a review needs the thread_id of the paused run")
        payload = flow.prepare_input(data or {})
        await _start_tiers(flow, models)
        return await _stream(context, flow, flow.app, payload, config, on_update)
    if checkpoint_db is None:
        raise ValueError("a checkpointed run needs checkpoint_db")
    config["configurable"] = {"thread_id": thread_id}
    with nullcontext() if thread_held else lock_thread(checkpoint_db, thread_id, postgres=postgres):
        if not thread_held:
            await asyncio.to_thread(
                claim_thread, checkpoint_db, thread_id, flow.name, postgres=postgres
            )
        await _start_tiers(flow, models)
        return await _checkpointed(
            flow, checkpoint_db, config, context, data, on_update, resume, postgres
        )


async def _checkpointed(
    flow: Flow,
    db: Path,
    config: RunnableConfig,
    context: RunContext,
    data: dict[str, Any] | None,
    on_update: UpdateHandler | None,
    resume: Mapping[str, Any] | None,
    postgres: str | None = None,
) -> RunResult:
    """The run on a thread (held by the caller), then its pending reviews saved."""
    async with open_checkpointer(db, postgres) as saver:
        app = flow.compile(checkpointer=saver)
        result = await _on_thread(flow, app, config, context, data, on_update, resume)
    thread_id = config["configurable"]["thread_id"]
    await asyncio.to_thread(save_reviews, db, thread_id, result.reviews, postgres=postgres)
    return result


async def _start_tiers(flow: Flow, models: ModelPool | None) -> None:
    """Start the model tiers `flow` uses, with its nodes' adapters (before any node runs)."""
    flow.use_adapters(models)
    if not flow.tiers:
        return
    if models is None:
        raise ModelError(
            f"flow '{flow.name}' uses model tiers ({', '.join(sorted(flow.tiers))}) but "
            "the run was given no ModelPool; `stepladder.open_project(path).run(...)` starts "
            "a project's tiers itself."
        )
    await models.start(flow.tiers)


async def _on_thread(
    flow: Flow,
    app: Any,
    config: RunnableConfig,
    context: RunContext,
    data: dict[str, Any] | None,
    on_update: UpdateHandler | None,
    resume: Mapping[str, Any] | None,
) -> RunResult:
    """Start, continue, or answer the reviews of, the run on a checkpoint thread."""
    thread_id = config["configurable"]["thread_id"]
    snapshot = await app.aget_state(config)
    waiting = tuple(_review(flow, thread_id, i) for i in snapshot.interrupts)
    pending = tuple(dict.fromkeys(name.partition(".")[0] for name in snapshot.next))  # X.each: X
    if resume is not None:
        if not waiting:
            raise FlowInputError(f"thread '{thread_id}' has no pending review to answer.")
        try:
            return await _stream(context, flow, app, Command(resume=dict(resume)), config,
                                 on_update, pending)  # fmt: skip
        except ValidationError as error:
            if not is_invalid_resume(error):
                raise
            raise FlowInputError(_bad_answer(error, waiting)) from None
    if waiting:
        state = public(snapshot.values)
        usage = context.usage.totals()
        return RunResult(state, thread_id, pending, usage=usage, status="paused", reviews=waiting)
    if pending:
        return await _stream(context, flow, app, None, config, on_update, pending)
    if data is None:
        raise FlowInputError(
            f"thread '{thread_id}' has no unfinished run to continue; give --input to start one."
        )
    return await _stream(context, flow, app, flow.prepare_input(data), config, on_update)


def _review(flow: Flow, thread_id: str | None, interrupt: Any) -> PendingReview:
    """The review an interrupt asks for; the run's flow owns it (a subflow's node asked)."""
    source = flow.spec.document.source
    review = PendingReview.from_interrupt(
        interrupt, thread_id, flow.name, str(source) if source else None
    )
    return review if review.flow == flow.name else replace(review, flow=flow.name)


def _bad_answer(error: ValidationError, waiting: tuple[PendingReview, ...]) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in d['loc']) or 'answer'}: {d['msg']}"
        for d in error.errors(include_url=False)
    )
    fields = "; ".join(f"node '{r.node}': {', '.join(r.fields)}" for r in waiting)
    return (
        f"the answer does not fit the output fields ({problems}). Fields: {fields}. "
        "The review is still pending; answer again."
    )


def uses_mcp(flow: Flow) -> bool:
    """Whether an agent node of `flow` (or of a subflow it runs) takes tools from MCP servers."""
    return any(loop.sources for loop in flow.every_agent.values())


async def list_mcp_tools(flow: Flow, mcp: McpClients | None = None) -> None:
    """List the MCP tools of `flow`'s agents through `mcp` (starting their servers).

    Their tool definitions (and constrained calls) exist from then on. Without `mcp`, the
    servers are started for the listing and stopped after it (what `stepladder tune` needs
    to render an agent's calls without a run).

    Raises:
        ToolServerError: If a server cannot start, or a tool's schema is not JSON Schema.
    """
    if mcp is None:
        own = McpClients(flow.project_root)
        try:
            await list_mcp_tools(flow, own)
        finally:
            await own.aclose()
        return
    for loop in flow.every_agent.values():
        if loop.sources:
            await loop.list_tools(mcp)


def check_collections(flow: Flow, store: Store | None) -> None:
    """Check that every collection `flow` searches exists in `store` and is not empty.

    Raises:
        ConfigError: Naming the collection and how to fill it.
    """
    if not flow.collections:
        return
    names = ", ".join(sorted(flow.collections))
    if store is None:
        raise ConfigError(
            f"flow '{flow.name}' searches collection(s) {names}, but the run was given no "
            "store; run it with `stepladder run`, or pass `store=open_store(...)`."
        )
    present = store.names()
    for name in sorted(flow.collections):
        fill = f"Fill it with `stepladder ingest {name} PATH...`."
        if name not in present:
            raise ConfigError(
                f"flow '{flow.name}' searches collection '{name}', which is not in the store "
                f"(collections: {', '.join(present) or 'none'}). {fill}"
            )
        if store.collection(name).count() == 0:
            raise ConfigError(
                f"flow '{flow.name}' searches collection '{name}', which is empty. {fill}"
            )


async def _stream(
    context: RunContext,
    flow: Flow,
    app: Any,
    payload: dict[str, Any] | Command[Any] | None,
    config: RunnableConfig | None,
    on_update: UpdateHandler | None,
    resumed_at: tuple[str, ...] = (),
) -> RunResult:
    thread = config.get("configurable", {}).get("thread_id") if config else None
    tracing = context.tracing
    shown = {"resume": payload.resume} if isinstance(payload, Command) else payload
    with run_span(tracing, context.flow_name, shown, thread, context.trace_attributes) as span:
        if resumed_at and span.is_recording():
            span.set_attribute(names.RESUMED_AT, list(resumed_at))
        interrupts: list[Any] = []
        try:
            updates, final = await _updates(context, app, payload, config, on_update, interrupts)
        except RunError as error:
            error.trace_id = _trace_id(span)
            raise
        finally:
            _finish_run(context, span, len(interrupts))
        set_preview(tracing, span, names.OUTPUT, final)
        trace_id = _trace_id(span)
    return RunResult(
        state=final,
        thread_id=thread,
        resumed_at=resumed_at,
        updates=updates,
        usage=context.usage.totals(),
        trace_id=trace_id,
        status="paused" if interrupts else "finished",
        reviews=tuple(_review(flow, thread, i) for i in interrupts),
    )


async def _updates(
    context: RunContext,
    app: Any,
    payload: dict[str, Any] | Command[Any] | None,
    config: RunnableConfig | None,
    on_update: UpdateHandler | None,
    interrupts: list[Any],
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    updates: list[tuple[str, dict[str, Any]]] = []
    final: dict[str, Any] = {}
    # "sync" durability: each step's checkpoint is on disk before the next step starts.
    durability = {"durability": "sync"} if config and "configurable" in config else {}
    stream = app.astream(
        payload, config, context=context, stream_mode=["updates", "values"], **durability
    )
    try:
        async for mode, chunk in stream:
            if mode == "values":
                final = {k: v for k, v in public(chunk).items() if k != INTERRUPT}
                continue
            for node_id, update in chunk.items():
                if node_id == INTERRUPT:
                    interrupts.extend(update)
                    continue
                update = public(update or {})
                if not update and node_id.endswith(EACH):
                    continue  # one element of a map: its result shows in the map's update
                updates.append((node_id, update))
                if on_update is not None:
                    on_update(node_id, update)
    except GraphRecursionError as error:
        raise _too_many_steps(context, config, updates, final) from error
    except RunError as error:
        error.usage = context.usage.totals()
        error.partial_state = final
        raise
    return updates, final


def _too_many_steps(
    context: RunContext,
    config: RunnableConfig | None,
    updates: list[tuple[str, dict[str, Any]]],
    final: dict[str, Any],
) -> StepLimitError:
    """The error of a run that reached its step limit, naming the nodes it ran last."""
    limit = int((config or {}).get("recursion_limit") or DEFAULT_MAX_STEPS)
    last = ", ".join(node for node, _ in updates[-6:]) or "none"
    error = StepLimitError(
        f"flow '{context.flow_name}' took {plural(limit, 'step')} without reaching its end (its "
        f"step limit, LangGraph's recursion limit): a loop in it never took its exit. The last "
        f"nodes run: {last}. Check the loop's exit condition (the `when` key or router of its "
        "edge), or allow more steps: `stepladder run --max-steps N`, `stepladder serve "
        "--max-steps N`, or run_flow(max_steps=N).",
        limit,
    )
    error.usage = context.usage.totals()
    error.partial_state = final
    return error


def _trace_id(span: Any) -> str | None:
    return f"{span.get_span_context().trace_id:032x}" if span.is_recording() else None


def _finish_run(context: RunContext, span: Any, reviews: int = 0) -> None:
    """Put the run's totals (and whether it paused for reviews) on its root span."""
    if not span.is_recording():
        return
    span.set_attribute(names.RUN_STATUS, "paused" if reviews else "finished")
    if reviews:
        span.set_attribute(names.REVIEWS, reviews)
    totals = context.usage.totals()
    span.set_attributes(
        {
            names.COST_USD: totals["cost_usd"],
            names.ESCALATIONS: totals["escalations"],
            names.RUN_INPUT_TOKENS: totals["prompt_tokens"],
            names.RUN_OUTPUT_TOKENS: totals["completion_tokens"],
            names.RUN_CACHED_TOKENS: totals["cached_tokens"],
            names.RETRIES: totals["retries"],
        }
    )
