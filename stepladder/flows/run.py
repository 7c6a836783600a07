"""Running a compiled flow: input checks, streaming, and SQLite checkpoints that resume."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from stepladder.errors import ConfigError, FlowInputError, ModelError, RunError
from stepladder.flows.flow import Flow
from stepladder.nodes import RunContext
from stepladder.retrieval.store import Store
from stepladder.runtimes import ModelPool
from stepladder.tracing import Tracing, run_span, set_preview
from stepladder.tracing import attributes as names

__all__ = ["RunResult", "check_collections", "run_flow"]

UpdateHandler = Callable[[str, dict[str, Any]], None]


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
    """

    state: dict[str, Any]
    thread_id: str | None = None
    resumed_at: tuple[str, ...] = ()
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = None


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
) -> RunResult:
    """Run `flow`, reporting each node's update; checkpoint to SQLite when given a thread.

    With a `thread_id` whose last run did not finish, the run continues after the last
    completed node (the `data` is then not used); otherwise it starts from `data`.

    The collections the flow searches are checked first (each must exist in `store` and
    hold chunks), then the model tiers it uses are started (through `models`), so a missing
    collection, key or model is reported before any node runs. With `tracing`, the run is one
    trace: a root span, a span per node, per model call and per retrieval;
    `trace_attributes` go on the root span (an eval run puts its run and case ids there).

    Raises:
        FlowInputError: If the input is invalid, or a thread has nothing to resume and no input.
        ConfigError: If a collection the flow searches is missing or empty.
    """
    check_collections(flow, store)
    context = replace(
        flow.context(models, store, tracing), trace_attributes=dict(trace_attributes or {})
    )
    if flow.tiers:
        if models is None:
            raise ModelError(
                f"flow '{flow.name}' uses model tiers ({', '.join(sorted(flow.tiers))}) but "
                "the run was given no ModelPool."
            )
        await models.start(flow.tiers)
    if thread_id is None:
        payload = flow.prepare_input(data or {})
        return await _stream(context, flow.app, payload, None, on_update)
    if checkpoint_db is None:
        raise ValueError("a checkpointed run needs checkpoint_db")
    checkpoint_db.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(checkpoint_db)) as saver:
        app = flow.compile(checkpointer=saver)
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        pending = (await app.aget_state(config)).next
        if pending:
            return await _stream(context, app, None, config, on_update, tuple(pending))
        if data is None:
            raise FlowInputError(
                f"thread '{thread_id}' has no unfinished run to continue; "
                "give --input to start one."
            )
        return await _stream(context, app, flow.prepare_input(data), config, on_update)


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
    app: Any,
    payload: dict[str, Any] | None,
    config: RunnableConfig | None,
    on_update: UpdateHandler | None,
    resumed_at: tuple[str, ...] = (),
) -> RunResult:
    thread = config["configurable"]["thread_id"] if config else None
    tracing = context.tracing
    with run_span(tracing, context.flow_name, payload, thread, context.trace_attributes) as span:
        if resumed_at and span.is_recording():
            span.set_attribute(names.RESUMED_AT, list(resumed_at))
        try:
            updates, final = await _updates(context, app, payload, config, on_update)
        except RunError as error:
            error.trace_id = _trace_id(span)
            raise
        finally:
            _finish_run(context, span)
        set_preview(tracing, span, names.OUTPUT, final)
        trace_id = _trace_id(span)
    return RunResult(
        state=final,
        thread_id=thread,
        resumed_at=resumed_at,
        updates=updates,
        usage=context.usage.totals(),
        trace_id=trace_id,
    )


async def _updates(
    context: RunContext,
    app: Any,
    payload: dict[str, Any] | None,
    config: RunnableConfig | None,
    on_update: UpdateHandler | None,
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    updates: list[tuple[str, dict[str, Any]]] = []
    final: dict[str, Any] = {}
    # "sync" durability: each step's checkpoint is on disk before the next step starts.
    durability = {"durability": "sync"} if config is not None else {}
    stream = app.astream(
        payload, config, context=context, stream_mode=["updates", "values"], **durability
    )
    try:
        async for mode, chunk in stream:
            if mode == "values":
                final = dict(chunk)
                continue
            for node_id, update in chunk.items():
                update = dict(update or {})
                updates.append((node_id, update))
                if on_update is not None:
                    on_update(node_id, update)
    except RunError as error:
        error.usage = context.usage.totals()
        error.partial_state = final
        raise
    return updates, final


def _trace_id(span: Any) -> str | None:
    return f"{span.get_span_context().trace_id:032x}" if span.is_recording() else None


def _finish_run(context: RunContext, span: Any) -> None:
    """Put the run's totals on its root span."""
    if not span.is_recording():
        return
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
