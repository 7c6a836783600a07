"""Capture: traced production runs of a flow turned into eval cases, marked unreviewed.

Each chosen run becomes one case: its input, and its outputs as candidate expectations, tagged
`captured` and `unreviewed` (and `error`, `escalated`, `invalid-output` where they apply). With
a label tier, the same input is run again with every model node on that tier, and that run's
outputs become the expectations (tag `labelled:TIER`; `disagrees` when they differ from what
production answered, which stays in the case's `meta.production`).

A case's id comes from its trace id (`trace-<first 16 hex>`), so capturing the same runs again
adds nothing twice.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from stepladder.errors import UserError
from stepladder.evalsets.cases import EvalCase
from stepladder.flows import Flow, run_flow
from stepladder.flows.project import new_thread_id
from stepladder.flows.run import check_collections
from stepladder.monitor.production import ProductionRun, load_production_runs
from stepladder.retrieval import Store
from stepladder.runtimes import ModelPool
from stepladder.tracing import Tracing
from stepladder.tracing.attributes import EVAL_CASE_ID, EVAL_RUN_ID
from stepladder.tracing.sources import TraceSource

__all__ = [
    "CaptureFilters",
    "LabelHook",
    "Labeller",
    "Selection",
    "StatusChoice",
    "capture_cases",
    "default_fields",
    "label_cases",
    "select_runs",
]

StatusChoice = Literal["ok", "error", "any"]
CAPTURED, UNREVIEWED = "captured", "unreviewed"
LabelHook = Callable[[int, EvalCase], None]


@dataclass(frozen=True)
class CaptureFilters:
    """Which traced runs to capture.

    Attributes:
        since: Runs started at or after this time.
        until: Runs started before this time.
        status: `ok`, `error` or `any` (None: `ok`, or `any` when `traces` are named).
        escalated: Only runs where a node climbed the ladder.
        invalid: Only runs with a model answer that did not validate.
        traces: Only these trace ids (or id prefixes).
        limit: The newest N runs (after the filters above).
        sample: A random N of them (after `limit`), drawn with `seed`.
        seed: The sample's seed (the same traces and seed give the same sample).
        include_eval: Keep runs made by `stepladder eval` (left out by default).
    """

    since: datetime | None = None
    until: datetime | None = None
    status: StatusChoice | None = None
    escalated: bool = False
    invalid: bool = False
    traces: tuple[str, ...] = ()
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    include_eval: bool = False

    @property
    def wanted_status(self) -> StatusChoice:
        """The status asked for, with its default filled in."""
        return self.status or ("any" if self.traces else "ok")

    def describe(self) -> str:
        """The filters in force, as options (for messages)."""
        parts = [f"--status {self.wanted_status}"]
        parts += [f"--since {self.since:%Y-%m-%d %H:%M}"] if self.since else []
        parts += [f"--until {self.until:%Y-%m-%d %H:%M}"] if self.until else []
        parts += ["--escalated"] if self.escalated else []
        parts += ["--invalid"] if self.invalid else []
        parts += [f"--trace {trace}" for trace in self.traces]
        parts += ["--include-eval"] if self.include_eval else []
        return " ".join(parts)

    def keeps(self, run: ProductionRun) -> bool:
        """Whether `run` passes the status, escalation, invalid-output and trace filters."""
        status = self.wanted_status
        return (
            (status == "any" or run.status == status)
            and (not self.escalated or run.escalations > 0)
            and (not self.invalid or run.invalid_outputs > 0)
            and (not self.traces or any(run.trace_id.startswith(t) for t in self.traces))
        )


@dataclass(frozen=True)
class Selection:
    """The runs chosen for capture, and what was left out.

    Attributes:
        runs: The chosen runs, oldest first (inputs cut to the flow's input keys).
        matched: Runs that passed the filters (before `limit` and `sample`).
        unreadable: Runs whose input preview was cut or redacted.
        eval_runs: Runs left out because an eval made them.
        unfit: Runs whose input no longer fits the flow's inputs.
        missing_traces: Named trace ids that matched no run.
        total: Every traced run of the flow, in any window.
    """

    runs: tuple[ProductionRun, ...]
    matched: int
    unreadable: int = 0
    eval_runs: int = 0
    unfit: int = 0
    missing_traces: tuple[str, ...] = ()
    total: int = 0

    def left_out(self) -> list[str]:
        """Why runs were left out: one note per reason that applies (for messages)."""
        counted = [
            (self.unreadable, "unreadable (input preview cut or redacted)"),
            (self.eval_runs, "from eval runs (--include-eval)"),
            (self.unfit, "whose input no longer fits the flow"),
        ]
        return [f"{count} {why}" for count, why in counted if count]


def select_runs(trace_dir: Path | TraceSource, flow: Flow, filters: CaptureFilters) -> Selection:
    """The traced runs of `flow` that `filters` choose.

    Raises:
        UserError: No traces folder, or no run matched (saying which filters, and how many
            runs of the flow the traces hold).
    """
    loaded = load_production_runs(
        trace_dir, flow.name, since=filters.since, until=filters.until,
        include_eval=filters.include_eval,
    )  # fmt: skip
    kept = [run for run in loaded.runs if filters.keeps(run)]
    fitting = [
        replace(run, inputs=inputs)
        for run in kept
        if (inputs := _fitted_inputs(flow, run.inputs)) is not None
    ]
    chosen = fitting[: filters.limit] if filters.limit is not None else fitting
    if filters.sample is not None and filters.sample < len(chosen):
        chosen = random.Random(filters.seed).sample(chosen, filters.sample)
    missing = tuple(t for t in filters.traces if not any(r.trace_id.startswith(t) for r in kept))
    selection = Selection(
        runs=tuple(sorted(chosen, key=lambda run: (run.started, run.trace_id))),
        matched=len(fitting), unreadable=loaded.unreadable, total=loaded.total,
        eval_runs=0 if filters.include_eval else len(loaded.eval_runs),
        unfit=len(kept) - len(fitting), missing_traces=missing,
    )  # fmt: skip
    if not selection.runs:
        raise UserError(_nothing_matched(trace_dir, flow.name, filters, selection))
    return selection


def _nothing_matched(
    trace_dir: Path | TraceSource, flow: str, filters: CaptureFilters, found: Selection
) -> str:
    notes = found.left_out()
    if found.missing_traces:
        notes.append(f"no run's trace id starts with {', '.join(found.missing_traces)}")
    left_out = f"; left out: {'; '.join(notes)}" if notes else ""
    return (
        f"no traced run of flow '{flow}' matches {filters.describe()}; {trace_dir} holds "
        f"{found.total} run(s) of '{flow}' in all{left_out}."
    )


def _fitted_inputs(flow: Flow, inputs: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A run's input restricted to the flow's input keys, or None when it no longer fits."""
    if inputs is None:
        return None
    keys = {key for key, state_field in flow.spec.state.items() if state_field.input}
    fitted = {key: value for key, value in inputs.items() if key in keys}
    try:
        flow.input_model.model_validate(fitted)
    except ValidationError:
        return None
    return fitted


def default_fields(flow: Flow, fields: Sequence[str] | None = None) -> tuple[str, ...]:
    """The state keys captured as expectations: `fields`, checked, or the flow's answers.

    The answers are the non-input state keys some node writes, except a node's confidence.

    Raises:
        UserError: A named field is not a non-input state key (listing the valid ones).
    """
    outputs = [key for key, spec in flow.spec.state.items() if not spec.input]
    if not fields:
        written = {key for node in flow.spec.nodes for key in node.writes}
        written -= {node.confidence_key() for node in flow.spec.nodes}
        return tuple(key for key in outputs if key in written)
    unknown = [name for name in fields if name not in outputs]
    if unknown:
        raise UserError(
            f"--fields {','.join(unknown)}: not an output of flow '{flow.name}'; its outputs "
            f"are: {', '.join(outputs) or '(none)'}."
        )
    return tuple(dict.fromkeys(fields))


def capture_cases(
    selection: Selection, fields: Sequence[str], split: str | None = None
) -> list[EvalCase]:
    """One unreviewed case per chosen run, oldest first."""
    now = datetime.now(UTC)
    return [_case_from_run(run, fields, split, now) for run in selection.runs]


def _case_from_run(
    run: ProductionRun, fields: Sequence[str], split: str | None, captured: datetime
) -> EvalCase:
    """The case a chosen run makes: id `trace-` and 16 hex digits of its trace id."""
    tags = [CAPTURED, UNREVIEWED]
    tags += ["error"] if run.status == "error" else []
    tags += ["escalated"] if run.escalations else []
    tags += ["invalid-output"] if run.invalid_outputs else []
    meta = {
        "source": "traces", "trace_id": run.trace_id, "flow": run.flow,
        "started": run.started.isoformat(timespec="seconds"),
        "captured": captured.isoformat(timespec="seconds"),
    }  # fmt: skip
    return EvalCase(
        id=f"trace-{run.trace_id[:16]}", inputs=run.inputs or {},
        expected=_picked(run.outputs, fields), tags=tags, split=split, meta=meta,
    )  # fmt: skip


def _picked(outputs: Mapping[str, Any] | None, fields: Iterable[str]) -> dict[str, Any]:
    """The `fields` of `outputs` that have a value, as JSON values."""
    values = outputs or {}
    return {
        key: to_jsonable_python(values[key], fallback=repr)
        for key in fields
        if values.get(key) is not None
    }


@dataclass(frozen=True)
class Labeller:
    """What labels captured cases: the flow with every model node on one tier.

    Attributes:
        flow: The flow compiled with every model node pinned to `tier`.
        tier: The label tier.
        models: The project's model tiers.
        tracing: Where label runs are traced (as runs of a label batch, not production).
        store: The store the flow's retrieve nodes search (None when it searches none).
        batch: The label batch's id (on each label run's trace, as its eval run id).
    """

    flow: Flow
    tier: str
    models: ModelPool
    tracing: Tracing | None = None
    store: Store | None = None
    batch: str = field(default_factory=lambda: new_thread_id("capture-label"))

    async def label(self, case: EvalCase, fields: Sequence[str]) -> EvalCase:
        """`case` with the label run's outputs as expectations (or tagged `label-failed`)."""
        attributes = {EVAL_RUN_ID: self.batch, EVAL_CASE_ID: case.id}
        try:
            result = await run_flow(
                self.flow, case.inputs, models=self.models, store=self.store,
                tracing=self.tracing, trace_attributes=attributes,
            )  # fmt: skip
        except Exception as error:  # a user's function node may raise anything
            return _label_failed(case, f"{type(error).__name__}: {error}")
        if result.paused:
            return _label_failed(case, "the label run paused for a human review")
        return _labelled(case, _picked(result.state, fields), self.tier)


def _labelled(case: EvalCase, labels: dict[str, Any], tier: str) -> EvalCase:
    """`case` expecting `labels` from `tier`; the production answer kept in `meta`."""
    production = case.expected
    disagrees = any(key in production and production[key] != labels.get(key) for key in labels)
    tags = [*case.tags, f"labelled:{tier}"] + (["disagrees"] if disagrees else [])
    meta = {**case.meta, "label_tier": tier, "production": production}
    return case.model_copy(update={"expected": labels, "tags": tags, "meta": meta})


def _label_failed(case: EvalCase, error: str) -> EvalCase:
    meta = {**case.meta, "label_error": error}
    return case.model_copy(update={"tags": [*case.tags, "label-failed"], "meta": meta})


async def label_cases(
    cases: Sequence[EvalCase],
    labeller: Labeller,
    fields: Sequence[str],
    *,
    concurrency: int = 2,
    on_case: LabelHook | None = None,
    stop: asyncio.Event | None = None,
) -> list[EvalCase]:
    """Label `cases`, `concurrency` at a time; `on_case(index, case)` as each finishes.

    The flow's collections are checked and the label tier started first, so a missing
    collection, model or key is reported before any case.
    Once `stop` is set, no further case starts (the runs under way finish).

    Returns:
        The labelled cases, in order (only those started before `stop` was set).
    """
    check_collections(labeller.flow, labeller.store)
    await labeller.models.start(labeller.flow.tiers)
    gate = asyncio.Semaphore(concurrency)
    done: list[EvalCase | None] = [None] * len(cases)

    async def one(index: int, case: EvalCase) -> None:
        async with gate:
            if stop is not None and stop.is_set():
                return
            labelled_case = done[index] = await labeller.label(case, fields)
        if on_case is not None:
            on_case(index, labelled_case)

    await asyncio.gather(*(one(index, case) for index, case in enumerate(cases)))
    return [case for case in done if case is not None]
