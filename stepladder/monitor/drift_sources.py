"""Where drift's inputs come from: the flow's eval sets, and its traced runs.

The eval sets of a flow are the specs in the project's `evalsets/` folder whose `flow:` names
it (or the ones given). An input's text is the value of one input key, or all its string
values joined. Production runs are the flow's traced runs in a time window, newest first, not
those of eval runs; each one counts, so a text sent often weighs as often as it was sent.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from stepladder.config import Project
from stepladder.errors import EvalSetError, UserError
from stepladder.evalsets.spec import EVALSETS_DIR, SPEC_SUFFIXES, LoadedEvalSpec, load_eval_spec
from stepladder.monitor.production import ProductionRun, select_production_runs
from stepladder.tracing.sources import TraceSource

__all__ = [
    "eval_case_texts",
    "find_eval_specs",
    "input_text",
    "production_inputs",
    "window",
]


def input_text(inputs: Mapping[str, Any], field: str | None = None) -> str | None:
    """The text of an input: one key's value, or its string values by key, joined by lines."""
    if field is not None:
        value = inputs.get(field)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    parts = [inputs[key] for key in sorted(inputs) if isinstance(inputs[key], str)]
    text = "\n".join(part for part in parts if part.strip())
    return text or None


def find_eval_specs(
    project: Project, flow: str, flow_file: Path, chosen: Sequence[Path] = ()
) -> list[LoadedEvalSpec]:
    """The eval specs to compare with: `chosen`, else those in `evalsets/` naming the flow.

    Raises:
        UserError: A chosen spec is invalid, or no spec in `evalsets/` names the flow.
    """
    if chosen:
        return [load_eval_spec(path) for path in chosen]
    folder = project.root / EVALSETS_DIR
    files = sorted(p for p in folder.glob("*.y*ml") if p.suffix in SPEC_SUFFIXES)
    found, others = [], []
    for file in files:
        try:
            loaded = load_eval_spec(file)
        except EvalSetError:
            others.append(f"{file.name} (invalid)")
            continue
        if _names_flow(loaded, project, flow, flow_file):
            found.append(loaded)
        else:
            others.append(f"{file.name} (flow '{loaded.spec.flow}')")
    if not found:
        there = ", ".join(others) or "none"
        raise UserError(
            f"no eval set of flow '{flow}' in {folder} (eval specs there: {there}). Drift "
            "compares production inputs with an eval set's cases: give one with --evalset "
            f"PATH, or write evalsets/{flow}.yaml with `flow: {flow}`."
        )
    return found


def _names_flow(loaded: LoadedEvalSpec, project: Project, flow: str, flow_file: Path) -> bool:
    if loaded.spec.flow == flow:
        return True
    try:
        return loaded.flow_path(project.flows_dir).resolve() == flow_file.resolve()
    except EvalSetError:
        return False


def eval_case_texts(specs: Sequence[LoadedEvalSpec], field: str | None) -> list[str]:
    """Distinct case texts of the eval sets, in order."""
    texts: dict[str, None] = {}
    keys: set[str] = set()
    for loaded in specs:
        for case in loaded.load_cases():
            keys.update(case.inputs)
            text = input_text(case.inputs, field)
            if text:
                texts.setdefault(text, None)
    if field is not None and field not in keys:
        raise UserError(
            f"--field '{field}': no case of {', '.join(str(s.path) for s in specs)} has that "
            f"input; inputs: {', '.join(sorted(keys)) or '(none)'}."
        )
    return list(texts)


def production_inputs(
    every: Sequence[ProductionRun],
    flow: str,
    trace_dir: Path | TraceSource,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    field: str | None = None,
    limit: int | None = None,
) -> tuple[list[ProductionRun], list[str], list[str]]:
    """The newest production runs in the window, their texts, and notes on what was left out.

    Raises:
        UserError: No traces, or no production run of the flow in the window.
    """
    found = select_production_runs(every, since=since, until=until)
    notes = []
    if found.unreadable:
        notes.append(f"{found.unreadable} run(s) with cut or redacted inputs left out")
    if not found.runs:
        raise UserError(
            f"no production runs of flow '{flow}' {window(since, until)} in {trace_dir}"
            f"{' (only eval runs)' if found.eval_runs else ''}. Run the flow with tracing on "
            f"(`stepladder run {flow}` or `stepladder serve`), or widen --since."
        )
    runs = list(found.runs[:limit])
    if len(found.runs) > len(runs):
        notes.append(f"compared the newest {len(runs)} of {len(found.runs)} production runs")
    texts = [text for run in runs if (text := input_text(run.inputs or {}, field))]
    if len(texts) < len(runs):
        notes.append(f"{len(runs) - len(texts)} run(s) without input text left out")
    notes.extend(_repeats(texts))
    return runs, texts, notes


def _repeats(texts: Sequence[str]) -> list[str]:
    """A note when production repeats a few texts (they weigh as often as they were sent)."""
    if not texts:
        return []
    counts = Counter(texts)
    if len(counts) > len(texts) / 2:
        return []
    top, times = counts.most_common(1)[0]
    shown = top if len(top) <= 80 else top[:79] + "…"
    return [
        f"the {len(texts)} production inputs hold only {len(counts)} distinct texts; the "
        f'commonest, sent {times} times: "{shown}"'
    ]


def window(since: datetime | None, until: datetime | None) -> str:
    """`since 2026-11-20 09:00 UTC`, `ever traced`, with `until ...` when given."""
    start = f"since {since:%Y-%m-%d %H:%M} UTC" if since else "ever traced"
    return start + (f" until {until:%Y-%m-%d %H:%M} UTC" if until else "")
