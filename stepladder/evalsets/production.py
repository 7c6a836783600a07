"""Production runs read back from the trace store: what drift and capture work on.

A production run is the root span of a flow's trace (with what its node and model spans say
about escalations, invalid outputs and route decisions) that is not part of an eval run. Its
inputs and outputs come from the run span's previews; a preview that was cut
(`tracing.preview_chars`) or masked (`tracing.redact`) cannot be read back, and such runs are
counted rather than guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stepladder.errors import UserError
from stepladder.nodes.route import ROUTE_PROBABILITIES
from stepladder.tracing import attributes as names
from stepladder.tracing.store import SpanRecord, Trace, TraceStatus, load_traces

__all__ = [
    "ProductionRun",
    "ProductionRuns",
    "load_production_runs",
    "parse_since",
    "run_from_trace",
]

INVALID_PREFIX = "invalid output"


@dataclass(frozen=True)
class ProductionRun:
    """One traced run of a flow.

    Attributes:
        trace_id: The run's trace id (hex).
        flow: The flow's name.
        started: When the run started (UTC).
        status: `ok`, `error` or `incomplete` (no root span yet).
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
    """The runs that matched, and how many were left out and why.

    Attributes:
        runs: The matching runs, newest first.
        unreadable: Runs whose input preview was cut or redacted (left out).
        eval_runs: Runs left out because they belong to an eval run.
    """

    runs: tuple[ProductionRun, ...]
    unreadable: int = 0
    eval_runs: int = 0


def load_production_runs(
    trace_dir: Path,
    flow: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    include_eval: bool = False,
) -> ProductionRuns:
    """Read the runs of `flow` from the span files in `trace_dir`.

    Args:
        trace_dir: The project's trace folder.
        flow: The flow's name.
        since: Only runs started at or after this time.
        until: Only runs started before this time.
        include_eval: Keep runs made by `stepladder eval` (left out by default).

    Raises:
        UserError: The folder does not exist (nothing traced yet).
    """
    store = load_traces(trace_dir)
    runs: list[ProductionRun] = []
    unreadable = eval_runs = 0
    for trace in store.traces:
        run = run_from_trace(trace)
        if run is None or run.flow != flow:
            continue
        if (since and run.started < since) or (until and run.started >= until):
            continue
        if run.eval_run_id is not None and not include_eval:
            eval_runs += 1
            continue
        if run.inputs is None:
            unreadable += 1
            continue
        runs.append(run)
    return ProductionRuns(tuple(runs), unreadable=unreadable, eval_runs=eval_runs)


def run_from_trace(trace: Trace) -> ProductionRun | None:
    """The production run a trace records, or None when it is not a flow run."""
    root = trace.root
    if root is None or root.span_type != "run":
        return None
    flow = root.attributes.get(names.FLOW_NAME)
    if not isinstance(flow, str):
        return None
    eval_id = root.attributes.get(names.EVAL_RUN_ID)
    escalations = root.number(names.ESCALATIONS)
    return ProductionRun(
        trace_id=trace.trace_id,
        flow=flow,
        started=datetime.fromtimestamp(root.start_ns / 1e9, tz=UTC),
        status="error" if root.is_error else "ok",
        inputs=_object(root.attributes.get(names.INPUT)),
        outputs=_object(root.attributes.get(names.OUTPUT)),
        escalations=int(escalations) if escalations is not None else _escalations(trace.spans),
        invalid_outputs=sum(1 for span in trace.spans if _is_invalid(span)),
        route_scores=_route_scores(trace.spans),
        eval_run_id=str(eval_id) if eval_id else None,
    )


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """A time from `--since`: an ISO date or time, or an age like `30m`, `12h`, `7d`, `2w`.

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
            f"--since '{text}': give an age (30m, 12h, 7d, 2w) or an ISO date or time "
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


def _escalations(spans: Iterable[SpanRecord]) -> int:
    return sum(1 for span in spans if span.attributes.get(names.ESCALATION_REASON))


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
