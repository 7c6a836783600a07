"""`stepladder capture FLOW --from-traces --to CASES.jsonl`: production runs become eval cases.

```
stepladder capture support --from-traces --since 7d --to evalsets/captured.jsonl
stepladder capture support --from-traces --escalated --label-tier frontier --to hard.jsonl
```
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import textwrap
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import TextColumn

from stepladder.cli.app import command
from stepladder.cli.common import UseCompiled, load_compiled_flow
from stepladder.errors import UserError

if TYPE_CHECKING:
    from stepladder.config import Project
    from stepladder.evalsets.cases import EvalCase
    from stepladder.flows import Flow
    from stepladder.monitor.capture import LabelHook, Labeller, Selection
    from stepladder.monitor.capture_files import CaseFile, SpecRef
    from stepladder.runtimes import ModelPool

console = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
INTERRUPTED = 130


class Status(StrEnum):
    """How the captured runs ended."""

    ok = "ok"
    error = "error"
    any = "any"


@dataclass(frozen=True)
class Target:
    """Where the cases go and what they expect (`flow_ref`: how a spec in evalsets/ names it)."""

    flow: Flow
    flow_ref: str
    evalsets_dir: Path
    path: Path
    fields: tuple[str, ...]
    specs: tuple[SpecRef, ...]
    split: str | None


@command()
def capture(
    flow: Annotated[str, typer.Argument(help="Flow name (in flows/) or path to a flow file.")],
    to: Annotated[Path, typer.Option("--to", help="The cases file (JSONL) to add the cases to.")],
    from_traces: Annotated[
        bool, typer.Option("--from-traces", help="Take the runs from the project's traces.")
    ] = False,
    since: Annotated[str | None, typer.Option(help="Runs since: 7d, 12h, or an ISO date.")] = None,
    until: Annotated[str | None, typer.Option(help="Runs before: 1d, or an ISO date.")] = None,
    status: Annotated[
        Status | None, typer.Option(help="Runs that ended so (default ok; any with --trace).")
    ] = None,
    escalated: Annotated[
        bool, typer.Option("--escalated", help="Only runs where a node escalated.")
    ] = False,
    invalid: Annotated[
        bool, typer.Option("--invalid", help="Only runs with an invalid model answer.")
    ] = False,
    trace: Annotated[
        list[str] | None, typer.Option(help="Only this trace id or id prefix (repeatable).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="The newest N runs.")] = None,
    sample: Annotated[
        int | None, typer.Option(min=1, help="A random N of the runs (after --limit).")
    ] = None,
    seed: Annotated[int, typer.Option(help="The sample's seed.")] = 0,
    include_eval: Annotated[
        bool, typer.Option("--include-eval", help="Also runs made by `stepladder eval`.")
    ] = False,
    fields: Annotated[
        str | None, typer.Option(help="Expected keys, comma-separated (default: the outputs).")
    ] = None,
    split: Annotated[str | None, typer.Option(help="Put the cases in this split.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the file instead of adding to it.")
    ] = False,
    label_tier: Annotated[
        str | None,
        typer.Option(help="Re-run each input with every model node on this tier; expect that."),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Label runs at once.")] = 2,
    use_compiled: UseCompiled = True,
) -> None:
    """Turn traced runs of a flow into eval cases (marked unreviewed) in a JSONL file."""
    from stepladder.flows.project import trace_store  # lazy: keeps --help fast
    from stepladder.monitor.capture import (
        CaptureFilters,
        capture_cases,
        select_runs,
    )  # lazy: keeps --help fast
    from stepladder.monitor.capture_files import CaseFile  # lazy: keeps --help fast
    from stepladder.monitor.production import parse_since  # lazy: keeps --help fast

    _check_source(from_traces, to)
    filters = CaptureFilters(
        since=parse_since(since), until=parse_since(until, option="--until"),
        status=status.value if status else None, escalated=escalated, invalid=invalid,
        traces=tuple(trace or ()), limit=limit, sample=sample, seed=seed,
        include_eval=include_eval,
    )  # fmt: skip
    project, compiled = load_compiled_flow(flow, prompts=use_compiled)
    target = _target(project, compiled, flow, to, fields, split)
    pinned = _label_flow(project, flow, compiled, label_tier, use_compiled) if label_tier else None
    selection = select_runs(trace_store(project), compiled, filters)
    cases = capture_cases(selection, target.fields, split)
    file = CaseFile(to, overwrite=overwrite)
    fresh = [case for case in cases if case.id not in file]
    labeller = _labeller(project, pinned, label_tier) if pinned and label_tier else None
    done = _label(labeller, target, fresh, file, concurrency) if labeller else _save(fresh, file)
    _summary(selection, target, len(cases), done, labeller)


def _check_source(from_traces: bool, to: Path) -> None:
    if not from_traces:
        raise UserError(
            "say where the cases come from: --from-traces (the runs traced under the "
            "project's .stepladder/traces); it is the only source for now."
        )
    if to.suffix != ".jsonl":
        raise UserError(
            f"--to {to}: eval cases are a JSONL file; name it .jsonl (an eval spec's "
            "`cases:` refers to it)."
        )


def _target(
    project: Project, flow: Flow, flow_ref: str, to: Path, fields: str | None, split: str | None
) -> Target:
    from stepladder.evalsets.spec import EVALSETS_DIR  # lazy: keeps --help fast
    from stepladder.monitor.capture import default_fields  # lazy: keeps --help fast
    from stepladder.monitor.capture_files import specs_using  # lazy: keeps --help fast

    evalsets_dir = project.root / EVALSETS_DIR
    specs = tuple(specs_using(to, evalsets_dir))
    named = [f.strip() for f in fields.split(",") if f.strip()] if fields else []
    if not named and specs:
        state = flow.spec.state
        named = [key for key in specs[0].fields if key in state and not state[key].input]
    chosen = default_fields(flow, named)
    if not chosen:
        raise UserError(f"flow '{flow.name}' has no output keys to expect.")
    ref = _spec_flow_ref(project, project.flow_path(flow_ref), evalsets_dir)
    return Target(flow, ref, evalsets_dir, to, chosen, specs, split)


def _spec_flow_ref(project: Project, flow_file: Path, evalsets_dir: Path) -> str:
    """How a spec in `evalsets_dir` names the flow: its name when in the flows folder."""
    file = flow_file.resolve()
    if file.parent == project.flows_dir.resolve():
        return file.stem
    return Path(os.path.relpath(file, evalsets_dir.resolve())).as_posix()


def _label_flow(project: Project, flow_ref: str, flow: Flow, tier: str, compiled: bool) -> Flow:
    """The flow with every model node on the label tier (checked against the project's)."""
    from stepladder.flows import compile_project_flow  # lazy: keeps --help fast

    tiers = project.settings.tiers
    if tier not in tiers:
        ladder = " -> ".join(project.settings.ladder)
        raise UserError(
            f"--label-tier {tier}: not a tier of this project; tiers: "
            f"{', '.join(sorted(tiers)) or '(none)'}" + (f" (ladder: {ladder})." if ladder else ".")
        )
    if not flow.tiers:
        raise UserError(
            f"--label-tier {tier}: flow '{flow.name}' has no model node to run on "
            "another tier; its captured outputs are already what it computes."
        )
    if tier in flow.tiers:
        stderr.print(
            f"[yellow]note:[/] flow '{flow.name}' already runs on '{tier}'; "
            "a higher tier of the ladder gives better labels."
        )
    return compile_project_flow(project, flow_ref, tier, compiled=compiled)


def _labeller(project: Project, flow: Flow, tier: str) -> Labeller:
    from stepladder.flows.project import project_tracing  # lazy: keeps --help fast
    from stepladder.monitor.capture import Labeller  # lazy: keeps --help fast
    from stepladder.retrieval.store import open_project_store  # lazy: keeps --help fast
    from stepladder.runtimes import ModelPool  # lazy: keeps --help fast

    models = ModelPool.for_project(project)
    store = open_project_store(project) if flow.collections else None
    return Labeller(flow, tier, models, project_tracing(project), store)


def _save(cases: list[EvalCase], file: CaseFile) -> list[EvalCase]:
    for case in cases:
        file.add(case)
    if cases:
        file.save()
    return cases


def _label(
    labeller: Labeller, target: Target, cases: list[EvalCase], file: CaseFile, concurrency: int
) -> list[EvalCase]:
    """Label the cases, saving each as it is done; Ctrl-C lets the runs under way finish."""
    from stepladder.progress import progress_bar  # lazy: keeps --help fast

    column = TextColumn("failed {task.fields[failed]}")
    with progress_bar(column, console=stderr, disable=not cases) as progress:
        task = progress.add_task(f"labelling on {labeller.tier}", total=len(cases), failed=0)
        failed = 0

        def on_case(index: int, case: EvalCase) -> None:
            nonlocal failed
            file.add(case, index)
            file.save()
            failed += "label-failed" in case.tags
            progress.update(task, advance=1, failed=failed)

        try:
            done = asyncio.run(_label_all(labeller, target, cases, concurrency, on_case))
        finally:
            if labeller.tracing is not None:
                labeller.tracing.shutdown()
    if len(done) < len(cases):
        stderr.print(
            f"interrupted: {len(done)} of {len(cases)} labelled case(s) saved in {target.path}; "
            "run the same command again (without --overwrite) to label the rest."
        )
        raise typer.Exit(INTERRUPTED)
    return done


async def _label_all(
    labeller: Labeller, target: Target, cases: list[EvalCase], concurrency: int, on_case: LabelHook
) -> list[EvalCase]:
    from stepladder.monitor.capture import label_cases  # lazy: keeps --help fast

    if not cases:
        return []
    stop = asyncio.Event()
    _on_interrupt(stop, labeller.models)
    async with labeller.models:
        return await label_cases(
            cases, labeller, target.fields, concurrency=concurrency, on_case=on_case, stop=stop
        )


def _on_interrupt(stop: asyncio.Event, models: ModelPool) -> None:
    """Ctrl-C sets `stop` (no new label run starts); a second Ctrl-C quits at once.

    Cancelling runs under way would stop the embedded model server mid-request; letting them
    finish keeps every answer already paid for. Saved cases are whole files either way. Quitting
    stops the model servers first: an SGLang server runs in its own session and would outlive us.
    """

    def interrupted() -> None:
        if stop.is_set():
            stderr.print("quitting; the cases saved so far are kept.")
            models.close()
            os._exit(INTERRUPTED)
        stop.set()
        stderr.print("stopping: the label runs under way finish (Ctrl-C again to quit now)")

    # Not on Windows, nor off the main thread: Ctrl-C then stops at once (saved cases stay).
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupted)


def _summary(
    selection: Selection,
    target: Target,
    captured: int,
    new: list[EvalCase],
    labeller: Labeller | None,
) -> None:
    left_out = ", ".join(selection.left_out())
    chosen = len(selection.runs)
    console.print(
        f"flow '{target.flow.name}': {selection.matched} run(s) matched"
        + (f", {chosen} chosen" if chosen != selection.matched else "")
        + (f"; left out: {left_out}" if left_out else "")
    )
    if selection.missing_traces:
        missing = ", ".join(selection.missing_traces)
        console.print(f"[yellow]no run's trace id starts with {escape(missing)}[/]")
    console.print(
        f"captured {captured} case(s): {len(new)} new, {captured - len(new)} already in the "
        f"file -> {escape(str(target.path))} (expected: {', '.join(target.fields)})"
    )
    if labeller is not None and new:
        disagree = sum("disagrees" in case.tags for case in new)
        failed = sum("label-failed" in case.tags for case in new)
        console.print(
            f"labelled on '{labeller.tier}': {len(new) - failed}, {disagree} disagreeing with "
            "production"
            + (f", {failed} failed (tag label-failed)" if failed else "")
            + f" (label runs traced with eval run id {labeller.batch})"
        )
    _next_steps(target)


def _next_steps(target: Target) -> None:
    from stepladder.monitor.capture_files import eval_snippet  # lazy: keeps --help fast

    console.print(
        "next: review the cases (tagged 'unreviewed': correct the expected values, drop the "
        "tag), then run the eval:"
    )
    for ref in target.specs:
        console.print(f"  stepladder eval {escape(_shown(ref.path))}")
        if target.split and ref.splits and target.split not in ref.splits:
            console.print(
                f"[yellow]  {ref.path.name} has no split '{target.split}' "
                f"(splits: {', '.join(ref.splits)})[/]"
            )
    if target.specs:
        return
    spec = _free_spec_path(target)
    shown = escape(_shown(spec))
    console.print(f"no eval spec in evalsets/ reads this file yet; save this as {shown}:\n")
    snippet = eval_snippet(target.flow, target.flow_ref, target.path, spec, target.fields)
    console.print(escape(textwrap.indent(snippet, "  ")))
    console.print(f"then: stepladder eval {shown}")


def _free_spec_path(target: Target) -> Path:
    spec = target.evalsets_dir / f"{target.path.stem}.yaml"
    return spec if not spec.exists() else spec.with_name(f"{target.path.stem}-captured.yaml")


def _shown(path: Path) -> str:
    """`path` relative to the current folder when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
