"""Running an eval: the flow over every case, concurrently, each case traced and kept.

Each finished case is kept at once in the project's eval run store
(`.stepladder/evals/RUN_ID/results.jsonl`, or Postgres with `state.postgres`; see
`stepladder.evalsets.run_store`), so a killed run loses nothing it finished; `resume=RUN_ID`
runs only the cases missing there, with the run's own options (see
`stepladder.evalsets.resume`). A case whose flow fails is recorded with its error (scoring 0)
and the run goes on; so is a case whose ladder reaches a human reviewer (its error says it
awaits review).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

from stepladder.config import Project
from stepladder.errors import ReviewRequired, RunError, StepladderError, UserError
from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.metrics import (
    Metric,
    MetricContext,
    build_metrics,
    score_case,
    scores_case,
)
from stepladder.evalsets.pacing import StartPacer
from stepladder.evalsets.remote import RemoteTarget, Replicas, remote_target
from stepladder.evalsets.results import (
    CaseResult,
    EvalManifest,
    EvalRunRecord,
    MetricScore,
)
from stepladder.evalsets.resume import resumed_options, resumed_run
from stepladder.evalsets.run_store import (
    EvalRunFiles,
    EvalRunStore,
    ResultSink,
    eval_run_store,
    evals_dir,
)
from stepladder.evalsets.spec import LoadedEvalSpec
from stepladder.flows import Flow, compile_project_flow, run_flow
from stepladder.flows.run import check_collections, list_mcp_tools, uses_mcp
from stepladder.replay import ReplaySession, finish_replayed_eval
from stepladder.retrieval import Store
from stepladder.retrieval.store import open_project_store
from stepladder.runtimes import ModelPool
from stepladder.runtimes.usage import UsageLedger
from stepladder.specs.references import ReferencePolicy
from stepladder.tools.mcp import McpClients
from stepladder.tracing import Tracing
from stepladder.tracing.attributes import EVAL_CASE_ID, EVAL_RUN_ID

__all__ = ["EvalOptions", "PreparedEval", "evals_dir", "prepare_eval", "run_eval"]

CaseHook = Callable[[CaseResult], None]


@dataclass(frozen=True)
class EvalOptions:
    """How to run an eval (None: the spec's value, or the resumed run's).

    A resumed run keeps its split, limit, tier, cache, `compiled` and adapters; giving another
    value for one of them is an error. `compiled` None means True (load the flow's optimized
    prompts).
    """

    concurrency: int | None = None
    resume: str | None = None
    split: str | None = None
    cache: bool | None = None
    limit: int | None = None
    tier: str | None = None
    compiled: bool | None = None
    adapters: Mapping[str, str] | None = None
    """LoRA adapters by node id, replacing the nodes' own (`stepladder tune`'s candidate)."""
    remote: RemoteTarget | None = None
    """Run the cases on these `stepladder serve` replicas (a resumed run: its own, if None)."""
    token_env: str | None = None
    """The variable holding the replicas' token when a resumed run uses its own replicas."""


@dataclass(frozen=True)
class PreparedEval:
    """Everything an eval run needs, checked before any case runs."""

    project: Project
    loaded: LoadedEvalSpec
    flow: Flow
    cases: list[EvalCase]
    metrics: list[Metric]
    manifest: EvalManifest
    folder: Path
    """The run's folder (its files); with runs in Postgres, only for its report and such."""
    done: frozenset[str]
    remote: RemoteTarget | None = None
    store: EvalRunStore | None = None
    """Where the run is kept (None: the run folder's parent, as files)."""

    @property
    def runs(self) -> EvalRunStore:
        """Where the run's manifest and results are kept."""
        return self.store if self.store is not None else EvalRunFiles(self.folder.parent)

    @property
    def pending(self) -> list[EvalCase]:
        """The cases this run still has to do."""
        return [case for case in self.cases if case.id not in self.done]

    @property
    def tiers(self) -> set[str]:
        """The model tiers the flow and the judge metrics use."""
        return self.flow.tiers | self.judge_tiers

    @property
    def judge_tiers(self) -> set[str]:
        """The model tiers the judge metrics use."""
        return {str(t) for t in (getattr(m, "tier", None) for m in self.metrics) if t}


def prepare_eval(project: Project, loaded: LoadedEvalSpec, options: EvalOptions) -> PreparedEval:
    """Compile the flow, load and select the cases, build the metrics, save the run's manifest.

    Raises:
        UserError: A bad spec, case file, flow, split or resume id, named precisely.
    """
    spec = loaded.spec
    runs = eval_run_store(project)
    if options.resume is not None:
        resumed = resumed_run(runs, spec.name, options.resume)
        manifest, done = resumed.manifest, resumed.done
        options = replace(
            options, **resumed_options(_local_options(options), manifest), remote=options.remote
        )
        if options.remote is None and manifest.remote:
            options = replace(options, remote=remote_target(manifest.remote, options.token_env))
    if options.remote is not None:
        _check_remote(options)
    flow = compile_project_flow(
        project,
        loaded.flow_path(project.flows_dir),
        options.tier,
        compiled=options.compiled is not False,
        adapters=options.adapters,
    )
    policy = ReferencePolicy(project.root, tuple(project.settings.allow_imports))
    metrics = build_metrics(loaded, policy)
    if options.resume is None:
        manifest, done = _new_manifest(loaded, flow, metrics, options), frozenset[str]()
    cases = _select(loaded.load_cases(), options.split, spec.splits, options.limit)
    if options.concurrency is not None:
        manifest = manifest.model_copy(update={"concurrency": options.concurrency})
    if options.remote is not None:
        manifest = manifest.model_copy(update={"remote": list(options.remote.urls)})
    manifest = manifest.model_copy(update={"cases": len(cases)})
    runs.save_manifest(manifest)
    folder = runs.report_folder(manifest.run_id)
    folder.mkdir(parents=True, exist_ok=True)  # for the report (and other files of the run)
    return PreparedEval(
        project, loaded, flow, cases, metrics, manifest, folder, done, options.remote, runs
    )


async def run_eval(
    prepared: PreparedEval,
    models: ModelPool,
    tracing: Tracing | None = None,
    on_case: CaseHook | None = None,
    replay: ReplaySession | None = None,
) -> EvalRunRecord:
    """Run the pending cases `manifest.concurrency` at a time; return the whole run.

    Case starts are spaced by the measured CPU time of a case (`StartPacer`), so a wave of
    answers arriving together does not keep the cases in lockstep.

    Collections are checked and model tiers started first (with the adapters the flow's nodes
    name), so a missing collection, model, key or adapter is reported before any case runs;
    the agents' MCP servers are started then too, and their sessions serve every case (closed
    when the eval ends, fails or is interrupted).
    With `remote`, the cases run on the replicas instead (`stepladder.evalsets.remote`): only
    the judge metrics' tiers start here, after every replica was asked whether it serves the
    flow.

    With `replay` (a `stepladder.replay` session), the local cases' node calls are recorded
    (kept as the run's record, where the project keeps records) or replayed from a record
    (the counts kept as `replay.json` in the run's folder).
    """
    if prepared.remote is not None:
        await _run_remote(prepared, prepared.remote, models, tracing, on_case)
    elif replay is None:
        await _run_local(prepared, models, tracing, on_case)
    else:
        with replay.active():
            await _run_local(prepared, models, tracing, on_case)
        run_id, flow = prepared.manifest.run_id, prepared.flow.name
        finish_replayed_eval(replay, prepared.project, run_id, flow, prepared.folder)
    finished = prepared.manifest.model_copy(
        update={"finished": _now(), "pricing": models.pricing() or None}
    )
    prepared.runs.save_manifest(finished)
    return prepared.runs.load(finished.run_id)


async def _run_local(
    prepared: PreparedEval, models: ModelPool, tracing: Tracing | None, on_case: CaseHook | None
) -> None:
    store = open_project_store(prepared.project) if prepared.flow.collections else None
    check_collections(prepared.flow, store)
    prepared.flow.use_adapters(models)
    await models.start(prepared.tiers)
    mcp = McpClients(prepared.flow.project_root) if uses_mcp(prepared.flow) else None
    try:
        if mcp is not None:  # one session per server for the whole eval, started before any case
            await list_mcp_tools(prepared.flow, mcp)
        await _run_cases(prepared, models, store, tracing, on_case, mcp)
    finally:
        if mcp is not None:
            await mcp.aclose()


async def _run_cases(
    prepared: PreparedEval,
    models: ModelPool,
    store: Store | None,
    tracing: Tracing | None,
    on_case: CaseHook | None,
    mcp: McpClients | None,
) -> None:
    gate = asyncio.Semaphore(prepared.manifest.concurrency)
    pacer = StartPacer()

    async def one(case: EvalCase, log: ResultSink) -> None:
        async with gate:
            await pacer.wait_turn()
            result = await _run_case(prepared, case, models, store, tracing, mcp)
            pacer.case_finished()
        log.append(result)
        if on_case is not None:
            on_case(result)

    with prepared.runs.results(prepared.manifest.run_id) as log:
        await asyncio.gather(*(one(case, log) for case in prepared.pending))


async def _run_remote(
    prepared: PreparedEval,
    target: RemoteTarget,
    models: ModelPool,
    tracing: Tracing | None,
    on_case: CaseHook | None,
) -> None:
    concurrency = prepared.manifest.concurrency
    async with Replicas(target, concurrency) as replicas:
        await replicas.check(prepared.flow.name)
        await models.start(prepared.judge_tiers)
        gate = asyncio.Semaphore(concurrency)

        async def one(case: EvalCase, log: ResultSink) -> None:
            async with gate:
                outcome = await replicas.run(prepared.flow.name, _request_body(case.inputs))
                result = await _case_result(
                    prepared, case, outcome.state, outcome.usage, outcome.trace_id,
                    outcome.error, outcome.latency_s, models, tracing,
                )  # fmt: skip
            log.append(result)
            if on_case is not None:
                on_case(result)

        with prepared.runs.results(prepared.manifest.run_id) as log:
            tasks = [asyncio.ensure_future(one(case, log)) for case in prepared.pending]
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


def _request_body(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return dict(to_jsonable_python(dict(inputs), fallback=repr))


async def _run_case(
    prepared: PreparedEval,
    case: EvalCase,
    models: ModelPool,
    store: Store | None,
    tracing: Tracing | None,
    mcp: McpClients | None = None,
) -> CaseResult:
    attributes = {EVAL_RUN_ID: prepared.manifest.run_id, EVAL_CASE_ID: case.id}
    started = time.perf_counter()
    error: str | None = None
    trace_id: str | None = None
    try:
        result = await run_flow(
            prepared.flow, case.inputs, models=models, store=store, tracing=tracing,
            trace_attributes=attributes, mcp=mcp,
        )  # fmt: skip
        state, usage, trace_id = result.state, result.usage, result.trace_id
        if result.paused:
            waiting = "; ".join(f"node '{r.node}' ({r.reason})" for r in result.reviews)
            error = f"awaits human review: {waiting}"
    except ReviewRequired as failure:
        error = f"awaits human review: node '{failure.node_id}' ({failure.reason})"
        state = dict(failure.partial_state or {})
        usage = dict(failure.usage or {})
        trace_id = failure.trace_id
    except StepladderError as failure:
        error = str(failure)
        state = dict(getattr(failure, "partial_state", None) or {})
        usage = dict(getattr(failure, "usage", None) or {})
        trace_id = failure.trace_id if isinstance(failure, RunError) else None
    except Exception as failure:  # a user's function node may raise anything
        error, state, usage = f"{type(failure).__name__}: {failure}", {}, {}
    latency = time.perf_counter() - started
    return await _case_result(
        prepared, case, state, usage, trace_id, error, latency, models, tracing
    )


async def _case_result(
    prepared: PreparedEval,
    case: EvalCase,
    state: Mapping[str, Any],
    usage: Mapping[str, Any],
    trace_id: str | None,
    error: str | None,
    latency: float,
    models: ModelPool,
    tracing: Tracing | None,
) -> CaseResult:
    """A case's result from its run's state, usage and error, scored by the metrics."""
    outputs = _outputs(prepared, state)
    scores = await _scores(prepared.metrics, outputs, case, models, tracing, error)
    return CaseResult(
        case_id=case.id, tags=case.tags, split=case.split, ok=error is None, error=error,
        inputs=to_jsonable_python(case.inputs, fallback=repr),
        outputs=outputs, expected=case.expected, scores=scores, latency_s=latency,
        cost_usd=float(usage.get("cost_usd") or 0.0),
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        escalations=int(usage.get("escalations") or 0),
        cached_calls=int(usage.get("cached_calls") or 0),
        rungs=dict(usage.get("rungs") or {}),
        trace_id=trace_id,
    )  # fmt: skip


def _outputs(prepared: PreparedEval, state: Mapping[str, Any]) -> dict[str, Any]:
    """The scored fields (None when missing), then the flow's other output keys it set.

    Output keys are the state keys not marked `input`; keeping the unscored ones lets a
    report show everything the flow answered, not only what a metric looked at.
    """
    keys = [m.field for m in prepared.metrics]
    keys += [k for k, f in prepared.flow.spec.state.items() if not f.input and k in state]
    return {k: to_jsonable_python(state.get(k), fallback=repr) for k in dict.fromkeys(keys)}


async def _scores(
    metrics: Sequence[Metric],
    outputs: dict[str, Any],
    case: EvalCase,
    models: ModelPool,
    tracing: Tracing | None,
    error: str | None,
) -> dict[str, MetricScore]:
    """Each metric's score; a failed case scores 0 on every metric it has an expected value for."""
    if error is not None:
        return {
            m.name: MetricScore(value=0.0, binary=m.binary, detail="the flow failed")
            for m in metrics
            if scores_case(m, case.expected)
        }
    context = MetricContext(models=models, usage=UsageLedger(), tracing=tracing)
    return await score_case(metrics, outputs, case, context)


def _select(
    cases: list[EvalCase], split: str | None, splits: Sequence[str], limit: int | None
) -> list[EvalCase]:
    if split is not None:
        if splits and split not in splits:
            raise UserError(f"--split {split}: not a split of this eval ({', '.join(splits)}).")
        cases = [case for case in cases if case.split == split]
        if not cases:
            raise UserError(f"--split {split}: no case is in that split.")
    return cases[:limit] if limit is not None else cases


def _local_options(options: EvalOptions) -> dict[str, Any]:
    """The options a resumed run keeps, by name (`remote` is not one: replicas may change)."""
    return {k: v for k, v in asdict(options).items() if k not in ("remote", "token_env")}


def _check_remote(options: EvalOptions) -> None:
    """Refuse the options replicas cannot honour: they run the flow as they serve it.

    Raises:
        UserError: Naming the option, for --tier, --adapter and --no-compiled.
    """
    given = [
        flag
        for flag, on in (
            ("--tier", options.tier is not None),
            ("--adapter", bool(options.adapters)),
            ("--no-compiled", options.compiled is False),
        )
        if on
    ]
    if given:
        raise UserError(
            f"--remote: {', '.join(given)} cannot apply to cases run on replicas (they run the "
            "flow as they serve it); drop it, or run the eval in process (without --remote)."
        )


def _new_manifest(
    loaded: LoadedEvalSpec, flow: Flow, metrics: Sequence[Metric], options: EvalOptions
) -> EvalManifest:
    spec = loaded.spec
    run_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    return EvalManifest(
        run_id=run_id, eval_name=spec.name, spec_path=str(loaded.path), flow=flow.name,
        metrics=[m.name for m in metrics], started=_now(),
        metric_fields={m.name: m.field for m in metrics},
        metric_kinds={name: metric.kind for name, metric in spec.metrics.items()},
        concurrency=options.concurrency or spec.concurrency,
        cache=spec.cache if options.cache is None else options.cache, split=options.split,
        limit=options.limit, tier=options.tier, use_compiled=options.compiled is not False,
        compiled_prompts=flow.compiled_prompts,
        adapters=dict(options.adapters) if options.adapters else None,
        remote=list(options.remote.urls) if options.remote else None,
    )  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
