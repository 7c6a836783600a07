"""`Project`: a stepladder project opened from Python, to run its flows and evaluate them.

```python
import stepladder

with stepladder.open_project("examples") as project:
    result = project.run("support_triage", {"message": "Where is my refund?"})
    print(result.state["category"], result.trace_id)
```

A run or an eval starts the model tiers its flow needs, and traces into the project's store
(`.stepladder/traces`: what `stepladder traces list` and the studio show). Opened with `with`
(or `async with`), the project keeps the tiers it started, and its tracing, until the block
ends; a call on a project that is not open starts and stops them itself. `stepladder run`,
`stepladder review resolve` and `stepladder eval` run through these same methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from stepladder.api.evals import EvalResult, eval_spec_path, finish_eval
from stepladder.api.replaying import ReplayLike, hermetic_models, session_for
from stepladder.api.resources import Resources
from stepladder.config import Project as ProjectConfig
from stepladder.config import Settings, load_project
from stepladder.config.serving import DEFAULT_MAX_STEPS
from stepladder.errors import ConfigError, UserError
from stepladder.evalsets.remote import remote_target
from stepladder.evalsets.results import CaseResult
from stepladder.evalsets.runner import EvalOptions, PreparedEval, prepare_eval, run_eval
from stepladder.evalsets.spec import load_eval_spec
from stepladder.flows import Flow, FlowBuilder, FlowSpec, PendingReview, RunResult, compile_flow
from stepladder.flows.project import (
    checkpoint_path,
    compile_project_flow,
    new_thread_id,
    trace_folder,
    trace_store,
)
from stepladder.flows.reviews import load_reviews
from stepladder.flows.run import UpdateHandler, run_flow
from stepladder.flows.subflow import FolderFlows
from stepladder.replay import new_run_id, save_run_record
from stepladder.retrieval.store import open_project_store
from stepladder.runtimes import ModelPool
from stepladder.tracing.store import TraceStore

__all__ = ["FlowLike", "Project", "open_project"]

FlowLike = str | Path | Flow | FlowSpec | FlowBuilder
"""A flow as `Project.flow` and `Project.run` take it: a name in `flows/`, a file, a compiled
`Flow`, a `FlowSpec` or a `FlowBuilder`."""


def open_project(path: str | Path = ".", *, models: ModelPool | None = None) -> Project:
    """Open the stepladder project at `path` (a folder, or a file in it), or the one above it.

    Args:
        path: The project folder (holding `stepladder.yaml`), a folder or file inside it.
        models: Model tiers to run on instead of the project's own (tests give a pool of
            DSPy `DummyLM`s); the project never closes them.

    Returns:
        The project; use it in a `with` block to keep its tiers running between calls.

    Raises:
        ConfigError: If `path` does not exist, or no `stepladder.yaml` is found at or above
            it, or the settings are invalid.
    """
    start = Path(path)
    if not start.exists():
        raise ConfigError(f"{start}: no such folder; open_project takes a project folder.")
    folder = start if start.is_dir() else start.parent
    return Project(load_project(start=folder), models=models)


class Project:
    """A project's flows, runs, evals, reviews and traces, from Python.

    Args:
        config: The loaded project (`stepladder.config.load_project`).
        models: Model tiers to run on instead of the project's own; never closed here.
    """

    def __init__(self, config: ProjectConfig, *, models: ModelPool | None = None) -> None:
        self.config = config
        self._resources = Resources(config, models)

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r}, open={self._resources.is_open})"

    @property
    def root(self) -> Path:
        """The project folder."""
        return self.config.root

    @property
    def settings(self) -> Settings:
        """The project's settings (`stepladder.yaml`)."""
        return self.config.settings

    @property
    def models(self) -> ModelPool | None:
        """The model pool runs use now: the one given, or the open project's (else None)."""
        return self._resources.models

    @property
    def checkpoint_db(self) -> Path:
        """The SQLite database of checkpoint threads and pending reviews."""
        return checkpoint_path(self.config)

    @property
    def trace_folder(self) -> Path:
        """The folder of the local trace store."""
        return trace_folder(self.config)

    def flows(self) -> list[str]:
        """The names of the flows in the project's flows folder."""
        return self.config.flow_names()

    def flow(
        self,
        flow: FlowLike,
        *,
        compiled: bool = True,
        adapters: Mapping[str, str] | None = None,
        tier: str | None = None,
    ) -> Flow:
        """Compile a flow with the project's tiers, escalation ladder and import allowlist.

        Args:
            flow: A flow name (in `flows/`), a flow file, a `FlowSpec` or a `FlowBuilder`
                (its Python callables included); a compiled `Flow` is returned as it is.
            compiled: Load a named flow's optimized prompts (`prompts/compiled/<flow>.json`).
            adapters: LoRA adapters by node id for a named flow, replacing the nodes' own.
            tier: Run every model node of a named flow on this tier.

        Raises:
            FlowSpecError: If the file is missing or not a valid flow.
            FlowCompileError: If the flow does not compile, or an artifact it uses is missing.
            UserError: If `adapters` or `tier` are given with a flow that is not named.
        """
        if isinstance(flow, str | Path):
            return compile_project_flow(
                self.config, flow, tier, compiled=compiled, adapters=adapters
            )
        if adapters or tier is not None:
            raise UserError(
                "Project.flow: `adapters` and `tier` apply to a flow given by name or file; "
                f"this one is a {type(flow).__name__}."
            )
        if isinstance(flow, Flow):
            return flow
        spec = flow.build() if isinstance(flow, FlowBuilder) else flow
        objects = flow.objects if isinstance(flow, FlowBuilder) else None
        folder = FolderFlows(self.config.flows_dir)
        flows = flow.flow_source(folder) if isinstance(flow, FlowBuilder) else folder
        settings = self.settings
        return compile_flow(
            spec,
            project_root=self.root,
            allow_imports=tuple(settings.allow_imports),
            objects=objects,
            tiers=set(settings.tiers),
            ladder=tuple(settings.ladder),
            mcp_servers=settings.mcp_servers,
            subflows=flows,
        )

    def run(
        self,
        flow: FlowLike,
        input: Mapping[str, Any] | None = None,
        *,
        thread: str | None = None,
        resume: Mapping[str, Any] | None = None,
        on_update: UpdateHandler | None = None,
        compiled: bool = True,
        adapters: Mapping[str, str] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        record: bool = False,
        replay: ReplayLike | None = None,
        hermetic: bool = False,
    ) -> RunResult:
        """Run a flow to its end (or to a pending human review) and return its result.

        The tiers the flow uses are started first (and stopped after, unless the project is
        open); the run is traced into the project's store. With a `thread`, it is
        checkpointed to the project's SQLite database: a thread whose last run did not
        finish continues after its last completed node (the `input` is then not used). A
        flow whose ladder reaches `human` gets a new thread when none is given.

        Args:
            flow: The flow: a name in `flows/`, a file, or a `Flow`, `FlowSpec` or
                `FlowBuilder` (see `flow`).
            input: The run's input: the flow's `input: true` state keys.
            thread: The checkpoint thread to run on (or to continue).
            resume: Answers to a paused run's reviews, by `PendingReview.interrupt_id`
                (the node's output fields); needs the paused run's `thread`.
            on_update: Called with each node's id and update as the run goes.
            compiled: Load a named flow's optimized prompts.
            adapters: LoRA adapters by node id for a named flow.
            max_steps: Steps the run may take before it stops with `StepLimitError`.
            record: Keep the run's node calls as a record where runs are kept
                (`.stepladder/records/`, or Postgres with `state.postgres`; a `ReplaySession`
                given as `replay` says where: `session.saved_run`, `session.saved_where`).
            replay: Serve node calls from this record (a run id, a record file, or a
                `stepladder.replay.ReplaySession`) when their key is there.
            hermetic: Fail a node call the record does not hold (`ReplayMiss`), and start
                no model server.

        Returns:
            The final state, status (`finished` or `paused`, with the pending reviews), model
            usage and cost, and the trace id: what `stepladder run` prints.

        Raises:
            FlowInputError: If the input does not fit the flow, or an answer does not fit.
            ThreadConflictError: If another run holds the thread, or it is another flow's.
            RunError: If a node fails (with the partial state and the usage so far).
            UserError: If called while an event loop runs (use `arun` there), or given
                `resume` without `thread`.
        """
        return self._resources.sync(
            self.arun(
                flow,
                input,
                thread=thread,
                resume=resume,
                on_update=on_update,
                compiled=compiled,
                adapters=adapters,
                max_steps=max_steps,
                record=record,
                replay=replay,
                hermetic=hermetic,
            )
        )

    async def arun(
        self,
        flow: FlowLike,
        input: Mapping[str, Any] | None = None,
        *,
        thread: str | None = None,
        resume: Mapping[str, Any] | None = None,
        on_update: UpdateHandler | None = None,
        compiled: bool = True,
        adapters: Mapping[str, str] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        record: bool = False,
        replay: ReplayLike | None = None,
        hermetic: bool = False,
    ) -> RunResult:
        """Run a flow from async code; the arguments and result are those of `run`."""
        if resume is not None and thread is None:
            raise UserError(
                "Project.run: `resume` answers a paused run's reviews; give its `thread` too "
                "(`RunResult.thread_id`, or `PendingReview.thread_id` from `project.reviews()`)."
            )
        built = self.flow(flow, compiled=compiled, adapters=adapters)
        if thread is None and built.reaches_human:
            thread = new_thread_id(built.name)
        store = open_project_store(self.config) if built.collections else None
        session = session_for(self.config, record, replay, hermetic)
        async with self._resources.session() as (models, tracing):
            with session.active() if session is not None else nullcontext():
                result = await run_flow(
                    built,
                    dict(input) if input is not None else None,
                    thread_id=thread,
                    checkpoint_db=self.checkpoint_db,
                    on_update=on_update,
                    models=hermetic_models(session, models),
                    store=store,
                    tracing=tracing,
                    resume=resume,
                    max_steps=max_steps,
                    postgres=self.settings.state.postgres,
                )
        if session is not None:
            save_run_record(session, self.config, new_run_id(), built.name)
        return result

    def prepare_eval(
        self,
        spec: str | Path,
        *,
        concurrency: int | None = None,
        split: str | None = None,
        limit: int | None = None,
        cache: bool | None = None,
        tier: str | None = None,
        compiled: bool | None = None,
        adapters: Mapping[str, str] | None = None,
        resume: str | None = None,
        remote: str | Sequence[str] | None = None,
        token_env: str | None = None,
    ) -> PreparedEval:
        """Load an eval spec, compile its flow, select its cases and open the run's folder.

        The arguments are those of `eval`; pass the result to `eval` to run it.

        Raises:
            UserError: A bad spec, case file, flow, split or resume id, named precisely.
        """
        loaded = load_eval_spec(eval_spec_path(self.config, spec))
        target = remote_target(remote, token_env) if remote is not None else None
        options = EvalOptions(
            concurrency, resume, split, cache, limit, tier, compiled, adapters, target, token_env
        )
        return prepare_eval(self.config, loaded, options)

    def eval(
        self,
        spec: str | Path | PreparedEval,
        *,
        concurrency: int | None = None,
        split: str | None = None,
        limit: int | None = None,
        cache: bool | None = None,
        tier: str | None = None,
        compiled: bool | None = None,
        adapters: Mapping[str, str] | None = None,
        resume: str | None = None,
        remote: str | Sequence[str] | None = None,
        token_env: str | None = None,
        on_case: Callable[[CaseResult], None] | None = None,
        record: bool = True,
        replay: ReplayLike | None = None,
        hermetic: bool = False,
    ) -> EvalResult:
        """Run an eval set over its flow and summarize it, as `stepladder eval` does.

        Each case is traced into the project's store; the run is kept under
        `.stepladder/evals/RUN_ID/` with its HTML report. None takes the spec's value (or
        the resumed run's).

        Args:
            spec: The eval spec: a file, a name in `evalsets/`, or a `prepare_eval` result
                (the other options are then already in it).
            concurrency: Cases run at once.
            split: Run only the cases of this split.
            limit: Run at most this many cases.
            cache: Allow cached model responses.
            tier: Run every model node on this tier.
            compiled: Load the flow's optimized prompts (default: on).
            adapters: LoRA adapters by node id, replacing the nodes' own.
            resume: Finish the killed run with this id, with the options it started with
                (a run started with `remote` runs on its replicas again unless given others).
            remote: Run the cases on these `stepladder serve` replicas (base URLs, a list or
                one string separated by commas) instead of in this process: round robin,
                a case whose replica fails is tried on the next.
            token_env: The variable holding the replicas' bearer token (default
                `STEPLADDER_API_TOKEN`).
            on_case: Called with each case's result as it finishes.
            record: Keep the run's node calls as its record (`.stepladder/records/RUN_ID.json`,
                or in Postgres with `state.postgres`; on by default; cases run on `remote`
                replicas are not recorded).
            replay: Serve node calls from this record (a run id, a record file, or a
                `ReplaySession`) when their key is there, and run the others; the result's
                `replay` counts, per node, the calls replayed and run and what they saved.
            hermetic: Fail the calls the record does not hold instead of running them,
                starting no model server; the eval then raises `ReplayMiss` naming them.

        Returns:
            The run's record (every case) and its summary.

        Raises:
            UserError: A bad spec, case file, flow, split or resume id, named precisely.
        """
        return self._resources.sync(
            self.aeval(
                spec,
                concurrency=concurrency,
                split=split,
                limit=limit,
                cache=cache,
                tier=tier,
                compiled=compiled,
                adapters=adapters,
                resume=resume,
                remote=remote,
                token_env=token_env,
                on_case=on_case,
                record=record,
                replay=replay,
                hermetic=hermetic,
            )
        )

    async def aeval(
        self,
        spec: str | Path | PreparedEval,
        *,
        concurrency: int | None = None,
        split: str | None = None,
        limit: int | None = None,
        cache: bool | None = None,
        tier: str | None = None,
        compiled: bool | None = None,
        adapters: Mapping[str, str] | None = None,
        resume: str | None = None,
        remote: str | Sequence[str] | None = None,
        token_env: str | None = None,
        on_case: Callable[[CaseResult], None] | None = None,
        record: bool = True,
        replay: ReplayLike | None = None,
        hermetic: bool = False,
    ) -> EvalResult:
        """Run an eval set from async code; the arguments and result are those of `eval`."""
        prepared = (
            spec
            if isinstance(spec, PreparedEval)
            else self.prepare_eval(
                spec,
                concurrency=concurrency,
                split=split,
                limit=limit,
                cache=cache,
                tier=tier,
                compiled=compiled,
                adapters=adapters,
                resume=resume,
                remote=remote,
                token_env=token_env,
            )
        )
        session = session_for(self.config, record, replay, hermetic)
        if prepared.remote is not None and session is not None:
            if session.replaying:
                raise UserError("--replay runs the cases here; drop --remote to replay a run.")
            session = None
        async with self._resources.session(cache=prepared.manifest.cache) as (models, tracing):
            models = hermetic_models(session, models)
            run = await run_eval(prepared, models, tracing, on_case, session)
        result = finish_eval(run)
        if session is not None and session.replaying:
            result = replace(result, replay=session.summary())
            session.check_hermetic()
        return result

    def reviews(self, thread: str | None = None) -> list[PendingReview]:
        """The pending human reviews (of one thread, or all), oldest first."""
        return load_reviews(self.checkpoint_db, thread, postgres=self.settings.state.postgres)

    def traces(self) -> TraceStore:
        """The runs traced into the project's store (what `stepladder traces list` shows)."""
        self._resources.flush()
        return trace_store(self.config).load()

    def open(self) -> Project:
        """Keep the tiers that runs start, and the tracing, until `close` (or the block ends)."""
        self._resources.open()
        return self

    def close(self) -> None:
        """Stop the tiers the project started and flush its traces."""
        self._resources.close()

    def __enter__(self) -> Project:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Project:
        return self.open()

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)
