"""`optimize`: tune a flow's LLM nodes with a DSPy optimizer against its eval, and measure it.

The steps: run the eval's test split as the flow runs now (before); score the validation
cases; optimize (the flow as a `FlowProgram`, the eval's metrics as one `FlowMetric`); score
the validation cases again; save `prompts/compiled/<flow>.json`; run the test split again
(after, loading the new file) and compare the two runs. Prompts that score lower on the
validation cases than the flow as it runs now are not saved (unless `keep_worse`), and the
test split is then not run again.

`finetune` trains weights instead of prompts (`dspy.BootstrapFinetune` through `TierProvider`):
the flow runs on the tuned nodes' tier as it runs now, the teacher (a higher tier, or the gold
labels) gives the examples, and the result is a LoRA adapter saved as `NAME@vN` under the same
gate; the test split after runs with the nodes on it (their `adapter:`).

The optimization's own flow runs (validation and optimizer) count against the budget and are
not traced.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from stepladder.config import Project
from stepladder.errors import BudgetExhausted, UserError
from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.metrics import Metric
from stepladder.evalsets.results import EvalRunRecord
from stepladder.evalsets.run_comparison import Comparison, compare_runs
from stepladder.evalsets.runner import EvalOptions, prepare_eval, run_eval
from stepladder.evalsets.spec import LoadedEvalSpec
from stepladder.flows import Flow, compile_project_flow
from stepladder.optimize.finetune.bootstrap import bootstrap_finetune
from stepladder.optimize.finetune.candidates import drop_candidate, keep_candidate
from stepladder.optimize.finetune.tune import nodes_tier
from stepladder.optimize.flow_program import FlowProgram, FlowRunner, Spend
from stepladder.optimize.optimizers import (
    OPTIMIZERS,
    FlowMetric,
    OptimizerChoice,
    Splits,
    build_optimizer,
    compile_program,
    split_cases,
)
from stepladder.prompts import (
    CompiledFile,
    CompiledNode,
    compiled_path,
    compiled_state,
    fingerprint,
    save_compiled,
)
from stepladder.retrieval.store import open_project_store
from stepladder.runtimes import ModelPool
from stepladder.specs.locations import near_miss, valid_choices
from stepladder.tracing import Tracing

__all__ = ["OptimizeOptions", "OptimizeReport", "Phases", "optimize"]


@dataclass(frozen=True)
class OptimizeOptions:
    """What `stepladder optimize` was asked (see its `--help`)."""

    optimizer: str = "bootstrap"
    teacher: str | None = None
    tier: str | None = None
    nodes: tuple[str, ...] = ()
    metric: str | None = None
    test_split: str = "test"
    val_fraction: float = 0.5
    seed: int = 0
    max_train: int | None = None
    max_val: int | None = None
    max_demos: int = 4
    max_labeled: int = 16
    max_calls: int | None = None
    max_cost_usd: float | None = None
    concurrency: int | None = None
    candidates: int = 4
    keep_worse: bool = False
    name: str | None = None
    tune_settings: Mapping[str, Any] = field(default_factory=dict)


class Phases(Protocol):
    """Where progress goes: a phase starts, a case or flow run finishes."""

    def start(self, phase: str, total: int | None) -> None:
        """A phase begins (`total` runs, when known)."""
        ...

    def advance(self, spend: Spend | None = None) -> None:
        """One run of the phase finished (`spend`: the optimization's spend so far)."""
        ...


@dataclass(frozen=True)
class OptimizeReport:
    """What an optimization did, spent and achieved."""

    flow: str
    optimizer: str
    nodes: tuple[str, ...]
    splits: str
    validation_before: float
    validation_after: float
    spent: dict[str, Any]
    seconds: float
    compiled: Path | None
    before: EvalRunRecord
    after: EvalRunRecord | None
    comparison: Comparison | None
    adapter: str | None = None

    @property
    def saved(self) -> bool:
        """Whether the prompts (or the adapter) were saved (not when they scored lower)."""
        return self.compiled is not None or self.adapter is not None


def optimize(
    project: Project,
    loaded: LoadedEvalSpec,
    options: OptimizeOptions,
    models: ModelPool,
    phases: Phases,
    tracing: Tracing | None = None,
) -> OptimizeReport:
    """Optimize the eval's flow; save the compiled prompts; compare test runs before and after.

    Raises:
        UserError: Bad options (unknown node, metric, tier or split), named precisely.
        BudgetExhausted: When the budget stops the optimization (nothing is saved).
    """
    try:
        return _optimize(project, loaded, options, models, phases, tracing)
    except BudgetExhausted as stop:
        raise BudgetExhausted(
            f"{stop} The optimization stopped there; nothing was saved. Raise --max-calls or "
            "--max-cost, or use fewer cases (--max-train, --max-val)."
        ) from None


def _optimize(
    project: Project,
    loaded: LoadedEvalSpec,
    options: OptimizeOptions,
    models: ModelPool,
    phases: Phases,
    tracing: Tracing | None,
) -> OptimizeReport:
    started = time.perf_counter()
    if options.optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer {options.optimizer}: choose one of {', '.join(OPTIMIZERS)}.")
    _check_installed(options.optimizer)
    flow_file = loaded.flow_path(project.flows_dir)
    student_flow = compile_project_flow(project, flow_file, options.tier, compiled=False)
    nodes = _chosen_nodes(student_flow, options.nodes)
    finetune = options.optimizer == "finetune"
    tier = options.tier
    if finetune:  # the nodes' tier as it runs now: the adapter learns the prompts it is sent
        tier = options.tier or nodes_tier(student_flow, nodes)
        student_flow = compile_project_flow(project, flow_file, tier)
    teacher_flow = (
        compile_project_flow(project, flow_file, options.teacher, compiled=finetune)
        if options.teacher is not None
        else None
    )
    test_options = EvalOptions(split=options.test_split, tier=tier,
                               concurrency=options.concurrency)  # fmt: skip
    before = prepare_eval(project, loaded, test_options)
    metrics = _chosen_metrics(before.metrics, options.metric)
    cases = loaded.load_cases()
    splits = split_cases(
        _scored(cases, metrics), test_split=options.test_split,
        val_fraction=options.val_fraction, seed=options.seed, max_train=options.max_train,
        max_val=options.max_val,
    )  # fmt: skip
    threads = options.concurrency or loaded.spec.concurrency
    spend = Spend(max_calls=options.max_calls, max_cost_usd=options.max_cost_usd)
    store = open_project_store(project) if student_flow.collections else None
    with FlowRunner(models, store, spend=spend, on_run=phases.advance) as runner:
        phases.start(f"test split '{options.test_split}', before", len(before.cases))
        before_run = runner.call(run_eval(before, models, tracing, lambda _: phases.advance()))
        metric = FlowMetric(metrics, {case.id: case for case in cases}, runner, models)
        current = FlowProgram(before.flow, runner, nodes)
        phases.start("validation, before", len(splits.validation))
        validation_before = _evaluate(current, splits, metric, threads)
        phases.start(f"optimizing ({options.optimizer})", None)
        candidate = None
        if finetune and tier is not None:
            name = options.name or f"{student_flow.name}-{'-'.join(nodes)}"
            tuned, candidate = bootstrap_finetune(
                project, student_flow, teacher_flow, tier, nodes, runner, splits, metric, name,
                threads, options.tune_settings,
            )  # fmt: skip
        else:
            tuned = _compile(options, models, runner, student_flow, teacher_flow, nodes, splits,
                             metric, threads)  # fmt: skip
        try:
            phases.start("validation, after", len(splits.validation))
            validation_after = _evaluate(tuned, splits, metric, threads)
        except BaseException:
            if candidate is not None:
                drop_candidate(project.state_dir, candidate.folder)
            raise
        spent = spend.summary()
        path, after_run, adapter = None, None, None
        scores = (validation_before, validation_after)
        keep = validation_after >= validation_before or options.keep_worse
        if candidate is not None:
            if keep:
                saved = keep_candidate(project.state_dir, candidate.folder,
                                       {"validation": validation_after})  # fmt: skip
                adapter = saved.label
                on_adapter = {node: str(saved.folder) for node in nodes}
                test_options = replace(test_options, adapters=on_adapter)
        elif keep:
            path = _save(project, student_flow, tuned, options, splits, spent, scores)
        if keep:
            after = prepare_eval(project, loaded, test_options)
            phases.start(f"test split '{options.test_split}', after", len(after.cases))
            after_run = runner.call(run_eval(after, models, tracing, lambda _: phases.advance()))
    if candidate is not None:  # the pool that served it is closed now
        drop_candidate(project.state_dir, candidate.folder)
    return OptimizeReport(
        flow=student_flow.name, optimizer=options.optimizer, nodes=nodes, splits=splits.how,
        validation_before=validation_before, validation_after=validation_after, spent=spent,
        seconds=time.perf_counter() - started, compiled=path, before=before_run,
        after=after_run, comparison=compare_runs(before_run, after_run) if after_run else None,
        adapter=adapter,
    )  # fmt: skip


def _compile(
    options: OptimizeOptions,
    models: ModelPool,
    runner: FlowRunner,
    student_flow: Flow,
    teacher_flow: Flow | None,
    nodes: tuple[str, ...],
    splits: Splits,
    metric: FlowMetric,
    threads: int,
) -> FlowProgram:
    """Optimize the prompts with the chosen DSPy optimizer."""
    student = FlowProgram(student_flow, runner, nodes)
    teacher = FlowProgram(teacher_flow, runner, nodes) if teacher_flow else None
    lm = runner.call(models.lm(options.teacher or options.tier or _first_tier(student_flow)))
    choice = OptimizerChoice(options.optimizer, options.max_demos, options.max_labeled,
                             threads, options.seed, options.candidates)  # fmt: skip
    optimizer, takes_valset = build_optimizer(choice, metric, lm)
    tuned = compile_program(optimizer, takes_valset, student, teacher, splits)
    runner.raise_fatal()
    return tuned


def _check_installed(optimizer: str) -> None:
    """MIPROv2 needs optuna (installed with stepladder; a trimmed environment may lack it)."""
    if optimizer != "mipro":
        return
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UserError(
            "--optimizer mipro needs optuna, which is not installed: pip install 'dspy[optuna]'."
        ) from None


def _chosen_nodes(flow: Flow, wanted: Sequence[str]) -> tuple[str, ...]:
    if not flow.programs:
        raise UserError(f"flow '{flow.name}' has no LLM node to optimize.")
    for node_id in wanted:
        if node_id not in flow.programs:
            guess = near_miss(node_id, list(flow.programs))
            hint = f"; did you mean '{guess}'?" if guess else "."
            raise UserError(
                f"--node {node_id}: not an LLM node of flow '{flow.name}'{hint} "
                f"LLM nodes: {valid_choices(list(flow.programs))}."
            )
    return tuple(wanted) or tuple(flow.programs)


def _chosen_metrics(metrics: Sequence[Metric], wanted: str | None) -> list[Metric]:
    if wanted is None:
        return list(metrics)
    chosen = [metric for metric in metrics if metric.name == wanted]
    if not chosen:
        names = [metric.name for metric in metrics]
        raise UserError(
            f"--metric {wanted}: not a metric of this eval; metrics: {', '.join(names)}."
        )
    return chosen


def _scored(cases: Sequence[EvalCase], metrics: Sequence[Metric]) -> list[EvalCase]:
    """The cases with an expected value for at least one of the metrics."""
    fields = {metric.field for metric in metrics}
    return [case for case in cases if fields & set(case.expected)]


def _first_tier(flow: Flow) -> str:
    return sorted(flow.tiers)[0]


def _evaluate(program: FlowProgram, splits: Splits, metric: FlowMetric, threads: int) -> float:
    """The program's mean metric over the validation cases (run `threads` at a time)."""
    examples = splits.examples(splits.validation)

    def one(example: Any) -> float:
        score, _ = metric.score(example, program(**example.inputs()))
        return score

    with ThreadPoolExecutor(max_workers=threads) as pool:
        scores = list(pool.map(one, examples))
    return sum(scores) / len(scores)


def _save(
    project: Project,
    flow: Flow,
    tuned: FlowProgram,
    options: OptimizeOptions,
    splits: Splits,
    spent: dict[str, Any],
    scores: tuple[float, float],
) -> Path:
    nodes = {
        node_id: CompiledNode(fingerprint=fingerprint(flow.programs[node_id]),
                              state=compiled_state(program))
        for node_id, program in tuned.node_programs().items()
    }  # fmt: skip
    tiers = sorted({*flow.tiers, *filter(None, [options.teacher])})
    compiled = CompiledFile(
        flow=flow.name, optimizer=options.optimizer, nodes=nodes,
        models={tier: project.settings.tiers[tier].model_name or tier for tier in tiers},
        score={"metric": options.metric or "mean of the eval's metrics",
               "validation_before": scores[0], "validation_after": scores[1]},
        details={"splits": splits.how, "seed": options.seed, "teacher": options.teacher,
                 "tier": options.tier, "spent": spent},
    )  # fmt: skip
    return save_compiled(compiled_path(project.prompts_dir, flow.name), compiled)
