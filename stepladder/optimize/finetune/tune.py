"""`tune`: fine-tune a flow's LLM nodes on the project's data; keep the adapter if it is better.

The steps, with the same gate as `optimize`:

1. build the examples (`build_training_data`: eval cases outside the test split, captured
   cases, answered reviews), exactly as the nodes send them on the tier being tuned (an
   agent's MCP tools are listed first, their servers started for that and stopped after);
2. run the eval's test split as the flow runs now (before);
3. stop the model servers (their prompt caches give the memory back) and train a LoRA on the
   tier's base model (`train_lora`; a killed training resumes from its last checkpoint when
   the same command runs again);
4. export it (PEFT folder and GGUF adapter) to a candidate folder beside the saved adapters;
5. run the test split again with the nodes on the candidate (after), and compare the two runs
   case by case (`compare_runs`, the eval gate's paired tests);
6. save the candidate as the next version `NAME@vN` only if it is better: some metric
   significantly better and none significantly worse (`keep_worse` saves it anyway).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stepladder.config import Project
from stepladder.errors import UserError
from stepladder.evalsets.report import summarize
from stepladder.evalsets.results import EvalRunRecord
from stepladder.evalsets.run_comparison import Comparison, compare_runs, gate
from stepladder.evalsets.runner import EvalOptions, prepare_eval, run_eval
from stepladder.evalsets.spec import LoadedEvalSpec
from stepladder.flows import Flow, compile_project_flow
from stepladder.flows.adapters import own_tiers
from stepladder.flows.run import list_mcp_tools, uses_mcp
from stepladder.optimize.finetune.base_model import base_model_source, load_base_model
from stepladder.optimize.finetune.candidates import (
    candidate_folder,
    drop_candidate,
    keep_candidate,
    training_folder,
    write_candidate,
)
from stepladder.optimize.finetune.data import DataOptions, TrainingData, build_training_data
from stepladder.optimize.finetune.trainer import TrainingResult, train_lora
from stepladder.predictors.adapters import (
    ADAPTERS,
    AdapterData,
    AdapterManifest,
    SavedAdapter,
    base_for_tier,
)
from stepladder.predictors.artifacts import saved_versions
from stepladder.predictors.manifest import created_now
from stepladder.runtimes import ModelPool
from stepladder.tracing import Tracing

__all__ = ["TuneOptions", "TuneReport", "nodes_tier", "not_better", "tune"]


@dataclass(frozen=True)
class TuneOptions:
    """What `stepladder tune` was asked (see its `--help`).

    Attributes:
        name: The adapter's name (saved as `NAME@vN`).
        nodes: The LLM nodes to tune (default: every LLM node of the flow).
        tier: The tier whose base model is tuned (default: the nodes' first tier).
        captures: Captured-case files or folders to train on as well.
        reviews: A checkpoint database whose answered reviews train too.
        use_eval_cases: Train on the eval's non-test cases.
        test_split: The eval's held-out split, run before and after.
        val_fraction: Share of the non-test cases that validate (when no split says).
        min_examples: The fewest training examples a node needs.
        compiled: Tune the nodes as they run with their compiled prompts (demos included).
        settings: Hyper-parameters overriding `stepladder.yaml`'s `tune:` section.
        concurrency: Eval cases run at once.
        keep_worse: Save the adapter even when it is not better.
    """

    name: str
    nodes: tuple[str, ...] = ()
    tier: str | None = None
    captures: tuple[Path, ...] = ()
    reviews: Path | None = None
    use_eval_cases: bool = True
    test_split: str = "test"
    val_fraction: float = 0.2
    min_examples: int = 20
    compiled: bool = True
    settings: Mapping[str, Any] = field(default_factory=dict)
    concurrency: int | None = None
    keep_worse: bool = False


@dataclass(frozen=True)
class TuneReport:
    """What a tuning did and achieved.

    Attributes:
        flow: The flow's name.
        nodes: The nodes tuned.
        tier: The tier whose base was tuned.
        data: The examples' counts and hash (`TrainingData.summary()`).
        training: How the training went.
        before: The test split as the flow ran before.
        after: The test split with the adapter.
        comparison: `after` against `before`, case by case.
        failures: Why the adapter is not better (empty when it is).
        saved: The saved adapter, or None when it was not saved.
        seconds: Wall time of the whole command.
    """

    flow: str
    nodes: tuple[str, ...]
    tier: str
    data: dict[str, Any]
    training: TrainingResult
    before: EvalRunRecord
    after: EvalRunRecord
    comparison: Comparison
    failures: tuple[str, ...]
    saved: SavedAdapter | None
    seconds: float

    @property
    def better(self) -> bool:
        """Whether the adapter passed the gate."""
        return not self.failures


def tune(
    project: Project,
    loaded: LoadedEvalSpec,
    options: TuneOptions,
    models: ModelPool,
    tracing: Tracing | None = None,
) -> TuneReport:
    """Fine-tune the eval's flow's nodes; save the adapter if the test split gets better.

    Raises:
        UserError: Bad options (unknown node, a tier that cannot be tuned), or data that
            cannot train (too little, rows equal to test cases, labels that do not fit).
        ConfigError: The `tune` extra is missing, or the base model cannot be loaded.
    """
    started = time.perf_counter()
    flow_file = loaded.flow_path(project.flows_dir)
    probe = compile_project_flow(project, flow_file, compiled=options.compiled)
    tier = options.tier or nodes_tier(probe, options.nodes)
    flow = compile_project_flow(project, flow_file, tier, compiled=options.compiled)
    with asyncio.Runner() as runner:
        if uses_mcp(flow):  # agents' MCP tools are defined once listed: their calls render then
            runner.run(list_mcp_tools(flow))
        data = build_training_data(
            flow, loaded, options.nodes, captures=options.captures, reviews=options.reviews,
            options=DataOptions(test_split=options.test_split,
                                use_eval_cases=options.use_eval_cases,
                                val_fraction=options.val_fraction,
                                min_examples=options.min_examples),
        )  # fmt: skip
        nodes = tuple(data.nodes)
        test = EvalOptions(split=options.test_split, tier=tier, compiled=options.compiled,
                           concurrency=options.concurrency)  # fmt: skip
        before = runner.run(_test_split(project, loaded, test, models, tracing))
        models.close()  # the servers and their prompt caches make room; `after` restarts them
        manifest, result = _train(project, options, tier, flow.name, data, before)
        candidate = candidate_folder(project.state_dir, manifest.name, manifest.data.hash)
        try:
            with_adapter = replace(test, adapters={node: str(candidate) for node in nodes})
            after = runner.run(_test_split(project, loaded, with_adapter, models, tracing))
            comparison = compare_runs(before, after)
            failures = tuple(not_better(comparison))
            saved = None
            if not failures or options.keep_worse:
                saved = keep_candidate(project.state_dir, candidate, _means(after))
        finally:
            drop_candidate(project.state_dir, candidate)
    return TuneReport(
        flow=flow.name, nodes=nodes, tier=tier, data=data.summary(), training=result,
        before=before, after=after, comparison=comparison, failures=failures, saved=saved,
        seconds=time.perf_counter() - started,
    )  # fmt: skip


def _train(
    project: Project,
    options: TuneOptions,
    tier: str,
    flow: str,
    data: TrainingData,
    before: EvalRunRecord,
) -> tuple[AdapterManifest, TrainingResult]:
    """Train the LoRA and export it to a candidate folder; return its manifest and result."""
    tier_settings = project.settings.tiers[tier]
    settings = project.settings.tune.model_copy(update=dict(options.settings))
    base = load_base_model(base_model_source(tier_settings, tier, settings))
    home = ADAPTERS.home(project.state_dir)
    trained = train_lora(
        base, data.train, data.validation, settings,
        threads=getattr(tier_settings, "threads", None),
        checkpoint_dir=training_folder(project.state_dir, options.name),
    )  # fmt: skip
    manifest = AdapterManifest(
        name=options.name,
        version=max(saved_versions(home / options.name), default=0) + 1,
        created=created_now(),
        base=base_for_tier(tier_settings, base.architecture, tier),
        flow=flow,
        nodes=list(data.nodes),
        data=_adapter_data(data),
        hyperparameters={**settings.model_dump(mode="json"), "steps": trained.result.steps,
                         "stopped": trained.result.stopped,
                         "precision_used": trained.result.precision},
        metrics_before=_means(before),
        train_seconds=round(trained.result.seconds, 1),
        peak_rss_gb=round(trained.result.peak_rss_gb, 3),
    )  # fmt: skip
    folder = candidate_folder(project.state_dir, manifest.name, manifest.data.hash)
    write_candidate(folder, manifest, trained.model)
    return manifest, trained.result


def nodes_tier(flow: Flow, nodes: Sequence[str]) -> str:
    """The one tier the nodes to tune start on (their first model rung).

    A classify node with an embedding classifier first is tuned on the tier above it.
    """
    chosen = list(nodes) or list(flow.programs)
    specs = {node.id: node for node in flow.spec.nodes}
    tiers = {tier for node in chosen if node in specs
             for tier in own_tiers(specs[node], flow.ladder)}  # fmt: skip
    if len(tiers) != 1:
        found = ", ".join(sorted(tiers)) or "none"
        raise UserError(
            f"the nodes to tune start on {len(tiers)} tiers ({found}): name the tier whose "
            "base model to tune with --tier."
        )
    return tiers.pop()


async def _test_split(
    project: Project,
    loaded: LoadedEvalSpec,
    options: EvalOptions,
    models: ModelPool,
    tracing: Tracing | None,
) -> EvalRunRecord:
    return await run_eval(prepare_eval(project, loaded, options), models, tracing)


def _adapter_data(data: TrainingData) -> AdapterData:
    counts: dict[str, int] = {}
    for example in (*data.train, *data.validation):
        source = example.source.split(":", 1)[0]
        counts[source] = counts.get(source, 0) + 1
    return AdapterData(hash=data.data_hash, counts=counts, train=len(data.train),
                       validation=len(data.validation))  # fmt: skip


def _means(run: EvalRunRecord) -> dict[str, float]:
    return {metric.name: round(metric.mean, 4) for metric in summarize(run).metrics}


def not_better(comparison: Comparison) -> list[str]:
    """Why the candidate is not better: a metric worse, or none significantly better."""
    failures = gate(comparison, max_cost_increase=float("inf"))
    if not failures and not any(m.verdict == "better" for m in comparison.metrics):
        shown = ", ".join(
            f"{m.name} {m.baseline_mean:.3f} -> {m.candidate_mean:.3f} (p={m.p_value:.3f})"
            for m in comparison.metrics
        )
        failures.append(f"no metric is significantly better: {shown or 'no metric scored'}")
    return failures
