"""`Service`: what one server holds for its lifetime, and how it executes runs.

One `ModelPool` (tiers start on first use, or all at start-up with `warm`), one `Tracing`
(the project's, plus the metrics' span processor), the retrieval store (opened on first use),
the run registry and the metrics. Each run executes as its own asyncio task, so runs proceed
concurrently and a client that disconnects does not stop a run (its result stays readable at
`GET /runs/{id}`). Synchronous function nodes run in a thread pool of their own
(`serve.node_threads`), so a slow one stalls neither the event loop nor other requests.

A run on a thread takes the thread before it starts (one writer per thread, in any process;
a thread belongs to one flow): a busy thread, or another flow's, is a 409, and so is an answer
to a review that another request answered first. A run without a
thread is written to the project's database when it ends, so it is found after a restart: the
runs that end together are written in one transaction (`GroupCommit`), each answered once its
record is written. With `state.postgres`, every run is written to the shared registry there
when it starts and when it ends (`postgres_history`), so any replica answers `GET /runs/{id}`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from stepladder.config import Project
from stepladder.errors import ThreadConflictError, UserError
from stepladder.flows import Flow, RunResult, run_flow
from stepladder.flows.project import checkpoint_path, project_tracing
from stepladder.flows.reviews import load_reviews
from stepladder.flows.run import UpdateHandler
from stepladder.flows.threads import ThreadLease, claim_thread, flow_of_thread, lock_thread
from stepladder.nodes.function import SYNC_NODE_EXECUTOR
from stepladder.retrieval import Store
from stepladder.retrieval.store import open_project_store
from stepladder.runtimes import BoundTier, ModelPool
from stepladder.serve import postgres_history
from stepladder.serve.batching import GroupCommit
from stepladder.serve.errors import ServeError, failure_of
from stepladder.serve.history import load_run, save_runs
from stepladder.serve.loading import ServedFlows
from stepladder.serve.metrics import Metrics, ModelCallMetrics
from stepladder.serve.runs import DEFAULT_LIMIT, RunRecord, RunRegistry, new_run_id
from stepladder.serve.threads import read_checkpointed
from stepladder.tools.mcp import McpClients
from stepladder.tracing import Tracing
from stepladder.tracing.attributes import Previews

__all__ = ["Service"]

logger = logging.getLogger("stepladder.serve")
IN_PROGRESS = "stepladder_runs_in_progress"


class Service:
    """The flows served and everything their runs share.

    Args:
        project: The project (its settings name the tiers; its state folder holds
            checkpoints and traces).
        served: The compiled flows.
        keep_runs: How many runs `GET /runs/{id}` keeps (in memory, and in the database).
        max_steps: Steps a run may take (default: the `serve.max_steps` setting).
    """

    def __init__(
        self,
        project: Project,
        served: ServedFlows,
        *,
        keep_runs: int = DEFAULT_LIMIT,
        max_steps: int | None = None,
    ) -> None:
        settings = project.settings
        self.project = project
        self.max_steps = max_steps or settings.serve.max_steps
        self.flows = served.flows
        self.run_models = served.run_models
        self.skipped = served.skipped
        self.registry = RunRegistry(keep_runs)
        self.metrics = Metrics()
        self.checkpoint_db = checkpoint_path(project)
        self.postgres = project.settings.state.postgres
        self.models = ModelPool.for_project(project)
        self.tracing = _tracing(project, self.metrics)
        self.started: dict[str, BoundTier] = {}
        self.tier_errors: dict[str, str] = {}
        self.node_pool = ThreadPoolExecutor(
            settings.serve.node_threads, thread_name_prefix="stepladder-node"
        )
        self.mcp = McpClients(project.root)  # agents' MCP servers: one session each, per process
        self._store: Store | None = None
        self._store_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[RunRecord]] = set()
        save = (
            partial(save_runs, self.checkpoint_db, keep=keep_runs)
            if self.postgres is None
            else partial(postgres_history.save_runs, self.postgres, keep=keep_runs)
        )
        self._history = GroupCommit[RunRecord](save, "stepladder-runs")

    @property
    def running(self) -> int:
        """How many runs are executing now."""
        return len(self._tasks)

    async def warm(self) -> None:
        """Start the flows' tiers now; one that fails is logged and tried again on first use.

        Every flow's adapters are handed to the pool first, so each tier's server starts once
        with all the adapters it serves (a flow whose adapters are refused fails its runs).
        """
        for flow in self.flows.values():
            try:
                flow.use_adapters(self.models)
            except UserError as error:
                logger.warning("flow '%s': its adapters cannot load: %s", flow.name, error)
        for name in sorted({tier for flow in self.flows.values() for tier in flow.tiers}):
            try:
                await self._start_tier(name)
            except ServeError as error:
                logger.warning("tier '%s' did not start: %s", name, error.detail)

    async def close(self) -> None:
        """Stop runs still executing, the model servers and tracing."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._history.close()
        await self.mcp.aclose()
        self.node_pool.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.models.close)
        self.tracing.shutdown()

    async def run(
        self,
        flow: Flow,
        data: dict[str, Any] | None,
        *,
        thread_id: str | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> RunRecord:
        """Execute a run to its end (or pause) and return its record.

        Raises:
            ServeError: When it failed (the record stays readable at GET /runs/{id}).
        """
        _, task = await self.launch(flow, data, thread_id=thread_id, resume=resume)
        record = await asyncio.shield(task)
        if record.failure is not None:
            raise record.failure
        return record

    async def launch(
        self,
        flow: Flow,
        data: dict[str, Any] | None,
        *,
        thread_id: str | None = None,
        on_update: UpdateHandler | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> tuple[RunRecord, asyncio.Task[RunRecord]]:
        """Register a run, get its tiers and store ready, and start it as a task.

        Returns:
            The run as it starts, and the task that ends with its final record.

        Raises:
            ServeError: 409 when the thread is running already or belongs to another flow
                (nothing is recorded); 503 when a tier cannot start or the store cannot open
                (the run is then recorded as failed).
        """
        lease = await self._take_thread(flow, thread_id)
        try:
            if resume is not None and thread_id is not None:
                await self._check_still_pending(thread_id, resume)
            record = self.registry.begin(thread_id or new_run_id(), flow.name, thread_id)
        except BaseException:
            if lease is not None:
                lease.release()
            raise
        if self.postgres is not None:  # other replicas see it running
            self._history.post(record).add_done_callback(partial(_not_written, record))
        ready: asyncio.Future[ServeError | None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._execute(record, flow, data, on_update, resume, ready))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if lease is not None:
            task.add_done_callback(lambda _: lease.release())
        problem = await asyncio.shield(ready)
        if problem is not None:
            raise problem
        return record, task

    async def find_run(self, run_id: str) -> RunRecord | None:
        """A run kept in memory, else in the database, else read back from its thread.

        With `state.postgres`, only this replica's runs without a thread, and its runs in
        progress, are answered from memory: another replica may have continued a thread since.
        """
        record = self.registry.get(run_id)
        if self.postgres is not None:
            if record is not None and (record.thread_id is None or record.status == "running"):
                return record
            from stepladder.serve.shared_runs import find_shared_run  # lazy: optional extra

            return await find_shared_run(self.flows, self.checkpoint_db, self.postgres, run_id)
        if record is not None:
            return record
        record = await asyncio.to_thread(load_run, self.checkpoint_db, run_id)
        if record is not None:
            return record
        known = await asyncio.to_thread(
            flow_of_thread, self.checkpoint_db, run_id, postgres=self.postgres
        )
        if known is None or known[0] not in self.flows:
            return None
        return await read_checkpointed(
            self.flows[known[0]], self.checkpoint_db, run_id, known[1], postgres=self.postgres
        )

    async def _execute(
        self,
        record: RunRecord,
        flow: Flow,
        data: dict[str, Any] | None,
        on_update: UpdateHandler | None,
        resume: Mapping[str, Any] | None,
        ready: asyncio.Future[ServeError | None],
    ) -> RunRecord:
        clock = time.perf_counter()
        self.metrics.add(IN_PROGRESS, {"flow": flow.name})
        SYNC_NODE_EXECUTOR.set(self.node_pool)  # this task's context: its run's nodes
        try:
            try:
                store = await self._prepare(flow)
            except Exception as error:
                failed = self._failed(record, clock, error)
                ready.set_result(failed.failure)
                return failed
            ready.set_result(None)
            try:
                result = await run_flow(
                    flow, data, thread_id=record.thread_id, checkpoint_db=self.checkpoint_db,
                    on_update=on_update, models=self.models, store=store, tracing=self.tracing,
                    resume=resume, max_steps=self.max_steps, thread_held=True,
                    postgres=self.postgres, mcp=self.mcp,
                )  # fmt: skip
            except Exception as error:
                return await self._keep(self._failed(record, clock, error))
            return await self._keep(self._ended(record, clock, result))
        except asyncio.CancelledError:
            stopped = ServeError(503, "cancelled", "the service stopped before the run ended")
            self._failed(record, clock, stopped)
            raise
        finally:
            if not ready.done():
                ready.set_result(ServeError(503, "cancelled", "the service is stopping"))
            self.metrics.add(IN_PROGRESS, {"flow": flow.name}, -1)

    async def _take_thread(self, flow: Flow, thread_id: str | None) -> ThreadLease | None:
        """Take the run's thread: one writer per thread, in any process; one flow per thread.

        Raises:
            ServeError: 409 when another run holds the thread, or it is another flow's.
        """
        if thread_id is None:
            return None
        try:
            if self.postgres is None:  # a lock file: no need to leave the loop
                lease = lock_thread(self.checkpoint_db, thread_id)
            else:  # a connection to Postgres, tried again while the database restarts
                lease = await _lock_off_loop(self.checkpoint_db, thread_id, self.postgres)
        except ThreadConflictError as error:
            raise failure_of(error, run_id=thread_id) from None
        try:
            await asyncio.to_thread(
                claim_thread, self.checkpoint_db, thread_id, flow.name, postgres=self.postgres
            )
        except BaseException as error:
            lease.release()
            if isinstance(error, ThreadConflictError):
                raise failure_of(error, run_id=thread_id) from None
            raise
        return lease

    async def _check_still_pending(self, thread_id: str, resume: Mapping[str, Any]) -> None:
        """With the thread held: the answered review still waits (none answered it first).

        Raises:
            ServeError: 409 when another request (on any replica) answered it meanwhile.
        """
        reviews = await asyncio.to_thread(
            load_reviews, self.checkpoint_db, thread_id, postgres=self.postgres
        )
        if not {review.interrupt_id for review in reviews} & set(resume):
            raise ServeError(
                409, "not_paused",
                f"run '{thread_id}' no longer waits for this review: another request answered "
                f"it first (GET /runs/{thread_id}).", run_id=thread_id,
            )  # fmt: skip

    async def _keep(self, record: RunRecord) -> RunRecord:
        """Write a run to the database when it has no thread, or any run to a shared registry.

        (Without Postgres, a thread's checkpoint keeps the rest.)
        """
        if record.thread_id is None or self.postgres is not None:
            try:
                await self._history.put(record)
            except Exception as error:  # the run's result is still answered and kept in memory
                logger.warning("run %s was not written to the database: %s", record.run_id, error)
        return record

    async def _prepare(self, flow: Flow) -> Store | None:
        """Start the flow's tiers (with its adapters), open the store it searches."""
        flow.use_adapters(self.models)
        for name in sorted(flow.tiers):
            await self._start_tier(name)
        if not flow.collections:
            return None
        async with self._store_lock:
            if self._store is None:
                self._store = await asyncio.to_thread(open_project_store, self.project)
        return self._store

    async def _start_tier(self, name: str) -> BoundTier:
        try:
            bound = await self.models.bound(name)
        except Exception as error:
            self.tier_errors[name] = str(error)
            raise ServeError(
                503, "model_unavailable", f"tier '{name}' cannot start: {error}", tier=name
            ) from error
        self.tier_errors.pop(name, None)
        self.started[name] = bound
        return bound

    def _ended(self, record: RunRecord, clock: float, result: RunResult) -> RunRecord:
        seconds = time.perf_counter() - clock
        self.metrics.record_run(record.flow, result.status, seconds, result.usage)
        return self.registry.put(record.ended(result, seconds))

    def _failed(self, record: RunRecord, clock: float, error: BaseException) -> RunRecord:
        seconds = time.perf_counter() - clock
        failure = failure_of(error, run_id=record.run_id)
        if failure.status >= 500:
            trace = error if failure.error == "internal_error" else None  # a bug: keep its stack
            logger.warning(
                "run %s of flow '%s' failed: %s", record.run_id, record.flow, failure,
                exc_info=trace,
            )  # fmt: skip
        self.metrics.record_error(record.flow, failure.error)
        self.metrics.record_run(record.flow, "failed", seconds, getattr(error, "usage", None))
        return self.registry.put(record.failed(failure, seconds, error))


async def _lock_off_loop(db: Path, thread_id: str, postgres: str) -> ThreadLease:
    """`lock_thread` on a worker thread; a lease taken after the caller gave up is let go."""
    taking = asyncio.ensure_future(asyncio.to_thread(lock_thread, db, thread_id, postgres=postgres))
    try:
        return await asyncio.shield(taking)
    except asyncio.CancelledError:
        taking.add_done_callback(_let_go)
        raise


def _let_go(taking: asyncio.Future[ThreadLease]) -> None:
    if not taking.cancelled() and taking.exception() is None:
        taking.result().release()


def _not_written(record: RunRecord, written: asyncio.Future[None]) -> None:
    """Log a run whose start could not be written to the shared registry."""
    if not written.cancelled() and (error := written.exception()) is not None:
        logger.warning("run %s was not registered in the state store: %s", record.run_id, error)


def _tracing(project: Project, metrics: Metrics) -> Tracing:
    """The project's tracing, plus the span processor feeding the per-tier metrics.

    With tracing off in the settings, spans still feed the metrics but are not stored.
    """
    tracing = project_tracing(project)
    provider = tracing.provider
    if provider is None:
        provider = TracerProvider()
        tracing = Tracing(provider, Previews(0, redact=True))
    provider.add_span_processor(ModelCallMetrics(metrics))
    return tracing
