"""Production runs read back from the trace store: what drift and capture work on.

A production run is the root span of a flow's trace (with what its node and model spans say
about escalations, invalid outputs and route decisions) that is not part of an eval run. Its
inputs and outputs come from the run span's previews; a preview that was cut
(`tracing.preview_chars`) or masked (`tracing.redact`) cannot be read back, and such runs are
counted rather than guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stepladder.errors import UserError
from stepladder.nodes.route import ROUTE_PROBABILITIES
from stepladder.tracing import attributes as names
from stepladder.tracing.sources import TraceSource
from stepladder.tracing.store import SpanRecord, Trace, TraceStatus, load_traces, summarize

__all__ = [
    "ProductionRun",
    "ProductionRuns",
    "load_production_runs",
    "parse_since",
    "read_flow_runs",
    "run_from_trace",
    "select_production_runs",
]

INVALID_PREFIX = "invalid output"


@dataclass(frozen=True)
class ProductionRun:
    """One traced run of a flow.

    Attributes:
        trace_id: The run's trace id (hex).
        flow: The flow's name.
        started: When the run started (UTC).
        status: `ok` or `error` (a run still going has no root span and is not read).
        inputs: The run's input, or None when its preview was cut or redacted.
        outputs: The final state, or None when not recorded, cut or redacted.
        escalations: Times a node climbed the ladder in this run.
        invalid_outputs: Model calls whose answer did not validate.
        route_scores: Each route decision's probability that its tiers suffice, by tier.
        eval_run_id: The eval run this run belongs to, if any.
    """

    trace_id: str
    flow: str
    started: datetime
    status: TraceStatus
    inputs: dict[str, Any] | None
    outputs: dict[str, Any] | None
    escalations: int = 0
    invalid_outputs: int = 0
    route_scores: dict[str, tuple[float, ...]] = field(default_factory=dict)
    eval_run_id: str | None = None


@dataclass(frozen=True)
class ProductionRuns:
    """The runs in a time window, and what was left out and why.

    Attributes:
        runs: The matching runs with a readable input, newest first.
        eval_runs: The window's runs made by `stepladder eval`, readable or not (in `runs`
            too, when readable, if eval runs were asked for).
        unreadable: Runs left out because their input preview was cut or redacted.
        total: Every traced run of the flow, in any window.
    """

    runs: tuple[ProductionRun, ...]
    eval_runs: tuple[ProductionRun, ...] = ()
    unreadable: int = 0
    total: int = 0


def read_flow_runs(trace_dir: Path | TraceSource, flow: str) -> tuple[ProductionRun, ...]:
    """Every traced run of `flow` in the span files of `trace_dir` (or a trace store), newest first.

    Raises:
        UserError: The folder does not exist (nothing traced yet).
    """
    found = (run_from_trace(trace) for trace in load_traces(trace_dir).traces)
    return tuple(run for run in found if run is not None and run.flow == flow)


def select_production_runs(
    every: Sequence[ProductionRun],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    include_eval: bool = False,
) -> ProductionRuns:
    """The runs of `every` in the window (eval runs only with `include_eval`) with an input."""
    window = [
        run
        for run in every
        if not (since and run.started < since) and not (until and run.started >= until)
    ]
    wanted = [run for run in window if include_eval or run.eval_run_id is None]
    return ProductionRuns(
        runs=tuple(run for run in wanted if run.inputs is not None),
        eval_runs=tuple(run for run in window if run.eval_run_id is not None),
        unreadable=sum(1 for run in wanted if run.inputs is None),
        total=len(every),
    )


def load_production_runs(
    trace_dir: Path | TraceSource,
    flow: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    include_eval: bool = False,
) -> ProductionRuns:
    """Read the runs of `flow` from `trace_dir` and select those of the window.

    Args:
        trace_dir: The project's trace store (`flows.project.trace_store`), or a span folder.
        flow: The flow's name.
        since: Only runs started at or after this time.
        until: Only runs started before this time.
        include_eval: Keep runs made by `stepladder eval` (left out by default).

    Raises:
        UserError: The folder does not exist (nothing traced yet).
    """
    every = read_flow_runs(trace_dir, flow)
    return select_production_runs(every, since=since, until=until, include_eval=include_eval)


def run_from_trace(trace: Trace) -> ProductionRun | None:
    """The production run a trace records, or None when it is not a flow run."""
    root = trace.root
    if root is None or root.span_type != "run":
        return None
    flow = root.attributes.get(names.FLOW_NAME)
    if not isinstance(flow, str):
        return None
    eval_id = root.attributes.get(names.EVAL_RUN_ID)
    summary = summarize(trace)
    return ProductionRun(
        trace_id=trace.trace_id,
        flow=flow,
        started=datetime.fromtimestamp(root.start_ns / 1e9, tz=UTC),
        status=summary.status,
        inputs=_object(root.attributes.get(names.INPUT)),
        outputs=_object(root.attributes.get(names.OUTPUT)),
        escalations=summary.escalations,
        invalid_outputs=sum(1 for span in trace.spans if _is_invalid(span)),
        route_scores=_route_scores(trace.spans),
        eval_run_id=str(eval_id) if eval_id else None,
    )


def parse_since(
    text: str | None, now: datetime | None = None, option: str = "--since"
) -> datetime | None:
    """A time from `option` (`--since`, `--until`): an ISO date or time, or an age (`7d`).

    Raises:
        UserError: Naming the accepted forms.
    """
    if text is None:
        return None
    now = now or datetime.now(UTC)
    value = text.strip()
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if value[-1:] in units and value[:-1].isdigit():
        return now - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"{option} '{text}': give an age (30m, 12h, 7d, 2w) or an ISO date or time "
            "(2026-11-20, 2026-11-20T09:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _object(preview: Any) -> dict[str, Any] | None:
    """A preview read back as a JSON object; None when it was cut, masked or is not one."""
    if not isinstance(preview, str) or preview == names.REDACTED:
        return None
    try:
        value = json.loads(preview)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _is_invalid(span: SpanRecord) -> bool:
    message = span.status_message or ""
    return span.span_type == "model" and span.is_error and message.startswith(INVALID_PREFIX)


def _route_scores(spans: Iterable[SpanRecord]) -> dict[str, tuple[float, ...]]:
    """`tier=p` items of route decisions, gathered by tier."""
    scores: dict[str, list[float]] = {}
    for span in spans:
        items = span.attributes.get(ROUTE_PROBABILITIES)
        if not isinstance(items, list | tuple):
            continue
        for item in items:
            tier, _, value = str(item).partition("=")
            try:
                scores.setdefault(tier, []).append(float(value))
            except ValueError:
                continue
    return {tier: tuple(values) for tier, values in scores.items()}
