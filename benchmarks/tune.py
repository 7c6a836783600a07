"""`stepladder tune` on real Bitext data: the embedded SmolLM2-135M before and after a LoRA.

A seeded draw of the Bitext customer-support dataset (4,514 rows; duplicates by case-folded
message dropped) is cut into disjoint `train`, `dev` and `test` rows. A temporary project gets
the embedded small tier (llama.cpp, SmolLM2-135M-Instruct, 2 threads) and one flow per node,
each node as in `examples/flows/support.yaml` but measurable alone:

- `classify`: the 11 Bitext categories, with the example's label descriptions;
- `extract`: `entity_type` (the 7 Bitext entity types) and `entity_value`, null when none;
- `reply`: a reply to the message (and its gold category), against Bitext's `response`,
  with llama.cpp's DRY sampler against loops (`dry_multiplier` 0.8; `--reply-dry 0`: off);
- `agent`: the example's order agent, alone, on the example shop's database: tested on the
  questions of `benchmarks/agent_tasks.py`, trained on generated worked tasks about other
  orders and customers (`benchmarks/tune_agent.py`).

Each node is tuned through `stepladder.optimize.finetune.tune.tune()`, the code of
`stepladder tune EVALSPEC --name N --node NODE --keep-worse`: training examples from the eval's
`train` rows (its `dev` rows validate), the `test` rows run before and after, the adapter saved
whatever the gate says so that both sides are reported. Measured on the same test rows:

- classify: accuracy before and after, the majority-class rate, and the embedding classifier
  (`stepladder classifier train`'s code, on the same training rows, calibrated on `dev`, with
  no rejection) on the same test rows;
- extract: exact match (stripped, case-folded; null matches null) of the type and of the value,
  on the rows that name an entity (the headline, as in `support_quality.py`) and on all rows;
- agent: task success (the right tool call, and the fact in the answer as a whole word, as in
  `agent_tasks.py`), the right call, and the share of tool calls with valid arguments;
- reply: the share of replies with a repeated word 8-gram and ROUGE-L F1 (word LCS) against
  Bitext's reply; a reply the node rejected (cut at `max_tokens`) is scored on the raw text the
  node's error quotes (its first 300 characters), and counted as invalid;
- training: seconds per 1,000 examples trained on (the training loop's own time, validation
  loss included, model loading not) and the process's peak RSS (`TrainingResult`);
- `adapter_over_base`: the median wall time of a run of the one-node flow (its one model call,
  and a few ms around it) with the node's adapter over the median of the same run on the base
  model, interleaved call by call on one server that loaded every adapter. The headline is the
  classify node's, whose output is one label either way; the other nodes' ratios are in the
  table (a reply's time also follows its length, which tuning changes).

The last line of stdout is the JSON object of issue 20 (null for a node not tuned); the line
before it holds every figure (`{"details": ...}`).

    .venv/bin/python benchmarks/tune.py --quick        # a smoke run: a few minutes
    .venv/bin/python benchmarks/tune.py                # 1,000 training rows a node: hours
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import csv
import json
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agent_tasks import KINDS
from rich.console import Console
from rich.table import Table
from tune_agent import (
    AGENT_METRICS,
    agent_flow_spec,
    agent_mcp_servers,
    agent_scores,
    write_agent_cases,
)

from stepladder import Flow, NodeOutputError
from stepladder.config import Project, load_project
from stepladder.config.tune import LrSchedule
from stepladder.evalsets.results import CaseResult, EvalRunRecord
from stepladder.evalsets.spec import load_eval_spec
from stepladder.flows.project import compile_project_flow
from stepladder.flows.run import run_flow
from stepladder.optimize.finetune.tune import TuneOptions, TuneReport, tune
from stepladder.predictors.classifier.data import LabelledTexts
from stepladder.predictors.classifier.train import TrainOptions, train_classifier
from stepladder.runtimes import ModelPool

DATASET = Path(
    "/work/shared/data/support/bitext/Bitext_Sample_Customer_Support_Training_Dataset_4514.csv"
)
NODES = ("classify", "extract", "reply", "agent")
LABELS = {
    "ACCOUNT": "creating, editing, switching, deleting or recovering an account or password",
    "CANCELLATION_FEE": "fees for cancelling or ending early",
    "CONTACT": "reaching a person, an agent or customer service",
    "DELIVERY": "delivery options and how long delivery takes",
    "FEEDBACK": "complaints and reviews",
    "INVOICE": "getting or checking an invoice or bill",
    "NEWSLETTER": "subscribing to or leaving the newsletter",
    "ORDER": "placing, changing, cancelling or tracking an order",
    "PAYMENT": "payment methods and payment problems",
    "REFUND": "getting money back, refund policy and refund status",
    "SHIPPING_ADDRESS": "setting or changing the shipping address",
}
ENTITY_TYPES = ("order_id", "invoice_id", "account_type", "person_name", "delivery_city",
                "delivery_country", "refund_amount")  # fmt: skip
MAX_LENGTH = 2048  # the agent's prompts (demos, then the steps so far) pass 1,024 tokens
REPEAT_N = 8
REPLY_MAX_TOKENS = 512
REPLY_DRY = 0.8  # the DRY sampler's usual strength (its authors' suggestion)
RAW_OUTPUT = re.compile(r"raw output: ('.*'|\".*\")\s*$", re.DOTALL)
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
stderr = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Row:
    """One Bitext row: the message and its gold labels."""

    id: str
    message: str
    category: str
    entity_type: str | None
    entity_value: str | None
    response: str


@dataclass(frozen=True)
class Sizes:
    """How many rows each split gets, and the training settings of the run."""

    train: int
    dev: int
    test: int
    latency_calls: int
    max_steps: int | None
    batch_size: int
    eval_every: int
    agent_train: int = 0
    agent_dev: int = 0
    agent_test: int = 0
    max_batch_tokens: int | None = None
    epochs: int | None = None
    patience: int | None = None
    lr_schedule: LrSchedule | None = None
    agent_mix: tuple[str, ...] = KINDS
    reply_dry: float = REPLY_DRY


@dataclass(frozen=True)
class NodeResult:
    """A node's tuning and its scores on the test rows, before and after."""

    node: str
    report: TuneReport
    before: dict[str, float | None]
    after: dict[str, float | None]


# --- data ---------------------------------------------------------------------------------


def load_rows(path: Path) -> list[Row]:
    """The dataset's rows, without repeated messages (compared case-folded)."""
    with path.open(newline="", encoding="utf-8") as file:
        rows, seen = [], set()
        for index, raw in enumerate(csv.DictReader(file)):
            key = " ".join(raw["instruction"].casefold().split())
            if key in seen:
                continue
            seen.add(key)
            rows.append(Row(id=f"bitext-{index:04d}", message=raw["instruction"],
                            category=raw["category"], entity_type=raw["entity_type"] or None,
                            entity_value=raw["entity_value"] or None,
                            response=raw["response"]))  # fmt: skip
    return rows


def split_rows(rows: Sequence[Row], sizes: Sizes, seed: int) -> dict[str, list[Row]]:
    """Disjoint seeded draws: `test` first, then `dev`, then `train`."""
    wanted = sizes.test + sizes.dev + sizes.train
    if wanted > len(rows):
        raise SystemExit(f"asked for {wanted} rows, the dataset has {len(rows)} distinct ones")
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    test, rest = shuffled[: sizes.test], shuffled[sizes.test :]
    return {"test": test, "dev": rest[: sizes.dev], "train": rest[sizes.dev : wanted - sizes.test]}


# --- the project --------------------------------------------------------------------------


def write_project(root: Path, splits: Mapping[str, Sequence[Row]], sizes: Sizes, seed: int) -> None:
    """A project with the small tier, one flow and one eval set per node."""
    tune_settings: dict[str, Any] = {"seed": seed, "batch_size": sizes.batch_size,
                                     "eval_every": sizes.eval_every,
                                     "max_length": MAX_LENGTH}  # fmt: skip
    if sizes.max_batch_tokens:
        tune_settings["max_batch_tokens"] = sizes.max_batch_tokens
    if sizes.epochs:
        tune_settings["epochs"] = sizes.epochs
    if sizes.patience is not None:
        tune_settings["early_stop_patience"] = sizes.patience
    if sizes.lr_schedule:
        tune_settings["lr_schedule"] = sizes.lr_schedule
    if sizes.max_steps:
        tune_settings["max_steps"] = sizes.max_steps
    settings = {
        "name": "tune-benchmark",
        "tiers": {"small": {"runtime": "llamacpp", "model": "smollm2-135m", "threads": 2,
                            "parallel": 2, "context_size": 4096, "max_tokens": 96}},
        "tune": tune_settings,
        "mcp_servers": agent_mcp_servers(root),
    }  # fmt: skip
    (root / "flows").mkdir(parents=True)
    (root / "evalsets").mkdir()
    (root / "stepladder.yaml").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    for node, flow in {**flows(sizes), "agent": agent_flow_spec()}.items():
        (root / "flows" / f"{node}.yaml").write_text(json.dumps(flow, indent=2), encoding="utf-8")
        spec = {"name": node, "flow": node, "cases": f"{node}.jsonl", "concurrency": 2,
                "splits": ["train", "dev", "test"], "metrics": METRICS[node]}  # fmt: skip
        (root / "evalsets" / f"{node}.yaml").write_text(json.dumps(spec), encoding="utf-8")
        if node == "agent":
            write_agent_cases(root, sizes.agent_train, sizes.agent_dev, sizes.agent_test, seed,
                              sizes.agent_mix)  # fmt: skip
            continue
        lines = [json.dumps(_case(node, row, split), ensure_ascii=False)
                 for split, rows in splits.items() for row in rows]  # fmt: skip
        (root / "evalsets" / f"{node}.jsonl").write_text("\n".join(lines) + "\n", "utf-8")


def _case(node: str, row: Row, split: str) -> dict[str, Any]:
    inputs: dict[str, Any] = {"message": row.message}
    if node == "classify":
        expected: dict[str, Any] = {"category": row.category}
    elif node == "extract":
        expected = {"entity_type": row.entity_type, "entity_value": row.entity_value}
    else:
        inputs["category"] = row.category
        expected = {"reply": row.response}
    return {"id": row.id, "inputs": inputs, "expected": expected, "split": split}


MESSAGE = {"type": "str", "input": True, "description": "The customer's message."}
CATEGORY = {"type": "enum", "values": sorted(LABELS)}
FLOWS: dict[str, dict[str, Any]] = {
    "classify": {
        "name": "classify",
        "state": {"message": MESSAGE, "category": CATEGORY},
        "nodes": [{"id": "classify", "kind": "classify", "tier": "small", "retries": 0,
                   "reads": ["message"], "output": "category", "labels": LABELS,
                   "instructions": "Classify the customer's message into the category it is "
                   "about."}],
    },
    "extract": {
        "name": "extract",
        "state": {"message": MESSAGE, "entity_type": {"type": "optional[str]"},
                  "entity_value": {"type": "optional[str]"}},
        "nodes": [{"id": "extract", "kind": "extract", "tier": "small", "retries": 0,
                   "reads": ["message"],
                   "instructions": "Find the one entity the message names, if any: an order "
                   "number, an invoice number, an account type, a person's name, a delivery "
                   "city or country, or a refund amount.",
                   "fields": {
                       "entity_type": {"type": "enum", "values": list(ENTITY_TYPES),
                                       "description": "what kind of entity it is; null if the "
                                       "message names none"},
                       "entity_value": {"type": "str", "max_chars": 60,
                                        "description": "the entity exactly as written in the "
                                        "message; null if none"}}}],
    },
    "reply": {
        "name": "reply",
        "state": {"message": MESSAGE, "category": {**CATEGORY, "input": True}, "reply": "str"},
        "nodes": [{"id": "reply", "kind": "generate", "tier": "small", "retries": 0,
                   "max_tokens": REPLY_MAX_TOKENS, "reads": ["message", "category"],
                   "instructions": "Write a short, friendly reply from the support team to "
                   "the customer.", "output": "reply"}],
    },
}  # fmt: skip


def flows(sizes: Sizes) -> dict[str, dict[str, Any]]:
    """`FLOWS`, the reply node with the run's DRY strength (none at 0)."""
    reply = {**FLOWS["reply"]["nodes"][0]}
    if sizes.reply_dry:
        reply["dry_multiplier"] = sizes.reply_dry
    return {**FLOWS, "reply": {**FLOWS["reply"], "nodes": [reply]}}


METRICS: dict[str, dict[str, str]] = {
    "classify": {"category": "label"},
    "extract": {"entity_type": "label", "entity_value": "exact"},
    "reply": {"reply": "token_f1"},
    "agent": AGENT_METRICS,
}


# --- scores -------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return re.findall(r"\w+", text.casefold())


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1: the longest common subsequence of words, as precision and recall."""
    got, want = words(candidate), words(reference)
    if not got or not want:
        return 0.0
    previous = [0] * (len(want) + 1)
    for token in got:
        current = [0]
        for j, other in enumerate(want, 1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[-1]))
        previous = current
    common = previous[-1]
    if not common:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


def has_repeated_ngram(text: str, n: int = REPEAT_N) -> bool:
    """Whether some word n-gram occurs twice or more."""
    tokens = words(text)
    grams = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return any(count > 1 for count in grams.values())


def same(output: Any, expected: Any) -> bool:
    """Equal after stripping and case-folding, as the eval's `exact` metric; null equals null."""
    if expected is None or output is None:
        return expected is None and output is None
    return str(output).strip().casefold() == str(expected).strip().casefold()


def share(hits: Sequence[bool]) -> float | None:
    return round(sum(hits) / len(hits), 4) if hits else None


def classify_scores(run: EvalRunRecord) -> dict[str, float | None]:
    results = run.results
    return {
        "accuracy": share([r.ok and same(r.outputs.get("category"), r.expected["category"])
                           for r in results]),
        "invalid": share([not r.ok for r in results]),
    }  # fmt: skip


def extract_scores(run: EvalRunRecord) -> dict[str, float | None]:
    def matches(result: CaseResult, key: str) -> bool:
        return result.ok and same(result.outputs.get(key), result.expected[key])

    named = [r for r in run.results if r.expected["entity_type"] is not None]
    unnamed = [r for r in run.results if r.expected["entity_type"] is None]
    return {
        "type": share([matches(r, "entity_type") for r in named]),
        "value": share([matches(r, "entity_value") for r in named]),
        "type_all_rows": share([matches(r, "entity_type") for r in run.results]),
        "value_all_rows": share([matches(r, "entity_value") for r in run.results]),
        "null_when_none": share([matches(r, "entity_type") and matches(r, "entity_value")
                                 for r in unnamed]),
        "invalid": share([not r.ok for r in run.results]),
    }  # fmt: skip


def reply_text(result: CaseResult) -> str:
    """The reply, or for a rejected one the raw output its error quotes (cut at 300 chars)."""
    if result.ok:
        return str(result.outputs.get("reply") or "")
    found = RAW_OUTPUT.search(result.error or "")
    if not found:
        return ""
    try:
        raw = str(ast.literal_eval(found.group(1)))
    except (SyntaxError, ValueError):
        return ""
    started = re.match(r'\s*\{\s*"reply"\s*:\s*"', raw)
    return raw[started.end() :] if started else raw


def reply_scores(run: EvalRunRecord) -> dict[str, float | None]:
    texts = [(reply_text(r), str(r.expected["reply"])) for r in run.results]
    return {
        "repetition": share([has_repeated_ngram(text) for text, _ in texts]),
        "rouge_l": round(statistics.fmean(rouge_l(t, ref) for t, ref in texts), 4)
        if texts else None,
        "words_p50": statistics.median(len(words(t)) for t, _ in texts) if texts else None,
        "invalid": share([not r.ok for r in run.results]),
    }  # fmt: skip


SCORERS = {"classify": classify_scores, "extract": extract_scores, "reply": reply_scores,
           "agent": agent_scores}  # fmt: skip


# --- the runs -----------------------------------------------------------------------------


@contextlib.contextmanager
def notes_to_stderr() -> Iterator[None]:
    """Libraries print notes on stdout: send them to stderr, keeping stdout for the report."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def tune_node(project: Project, node: str, train_rows: int) -> NodeResult:
    """`stepladder tune evalsets/NODE.yaml --name bench-NODE --node NODE --keep-worse`."""
    options = TuneOptions(name=f"bench-{node}", nodes=(node,), keep_worse=True,
                          min_examples=min(20, train_rows))  # fmt: skip
    loaded = load_eval_spec(project.root / "evalsets" / f"{node}.yaml")
    models = ModelPool(project.settings.tiers, prices=project.settings.prices)
    stderr.rule(f"tuning {node}")
    try:
        with notes_to_stderr():
            report = tune(project, loaded, options, models)
    finally:
        models.close()
    score = SCORERS[node]
    return NodeResult(node, report, score(report.before), score(report.after))


def embedding_classifier(project: Project, splits: Mapping[str, Sequence[Row]]) -> float:
    """Test accuracy of an embedding classifier trained on the train rows (dev calibrates)."""

    def texts(split: str) -> LabelledTexts:
        return LabelledTexts.of([(r.message, r.category) for r in splits[split]], split)

    stderr.rule("embedding classifier")
    with notes_to_stderr():
        trained = train_classifier(
            "bench-category", texts("train"), project.settings.embeddings,
            validation=texts("dev"), options=TrainOptions(max_rejection=0.0),
            cache_dir=project.state_dir / "cache" / "embeddings", console=stderr,
        )  # fmt: skip
        predicted = trained.classifier.predict([r.message for r in splits["test"]])
    hits = [
        label == row.category for (label, _), row in zip(predicted, splits["test"], strict=True)
    ]
    return sum(hits) / len(hits)


async def timed_run(
    flow: Flow, inputs: dict[str, Any], pool: ModelPool
) -> tuple[float, float | None]:
    """Seconds one run of the one-node flow takes, and the tokens it generated.

    A rejected output is timed as well; its tokens are not known (None).
    """
    started = time.perf_counter()
    try:
        run = await run_flow(flow, inputs, models=pool)
    except NodeOutputError:
        return time.perf_counter() - started, None
    return time.perf_counter() - started, float(run.usage["completion_tokens"])


async def adapter_latency(
    project: Project, results: Sequence[NodeResult], rows: Sequence[Row], calls: int
) -> dict[str, dict[str, float]]:
    """Per node: median seconds of a run on the base and with the adapter, interleaved.

    A run of a one-node flow is its one model call and the node around it (a few ms).
    """
    pairs = {}
    for result in results:
        saved = result.report.saved
        if saved is None or result.node == "agent":  # several calls a run: not one call's time
            continue
        base = compile_project_flow(project, result.node)
        tuned = compile_project_flow(project, result.node, adapters={result.node: saved.label})
        pairs[result.node] = (base, tuned)
    timings: dict[str, dict[str, float]] = {}
    async with ModelPool(project.settings.tiers, prices=project.settings.prices) as pool:
        for _, tuned in pairs.values():
            tuned.use_adapters(pool)  # every adapter loaded before the server starts
        await pool.start({"small"})
        for node, (base, tuned) in pairs.items():
            seconds: dict[str, list[float]] = {"base": [], "adapter": []}
            tokens: dict[str, list[float]] = {"base": [], "adapter": []}
            for index, row in enumerate([rows[0], *rows[:calls]]):  # the first call warms up
                inputs = {"message": row.message}
                if node == "reply":
                    inputs["category"] = row.category
                order = [("base", base), ("adapter", tuned)]
                for side, flow in order if index % 2 else order[::-1]:
                    took, generated = await timed_run(flow, inputs, pool)
                    if index:
                        seconds[side].append(took)
                        tokens[side].extend([] if generated is None else [generated])
            timings[node] = _medians(seconds, tokens)
    return timings


def _medians(
    seconds: Mapping[str, Sequence[float]], tokens: Mapping[str, Sequence[float]]
) -> dict[str, float]:
    base, adapter = statistics.median(seconds["base"]), statistics.median(seconds["adapter"])
    return {"base_s": base, "adapter_s": adapter, "ratio": adapter / base,
            "base_tokens": statistics.median(tokens["base"] or [0.0]),
            "adapter_tokens": statistics.median(tokens["adapter"] or [0.0])}  # fmt: skip


def examples_seen(report: TuneReport, batch_size: int) -> int:
    """Examples the training went through: steps x batch, at most the planned passes."""
    training = report.training
    saved = report.saved
    epochs = int(saved.manifest.hyperparameters.get("epochs", 1)) if saved else 1
    return min(training.steps * batch_size, training.train_examples * epochs)


def per_1000(report: TuneReport, batch_size: int) -> float | None:
    """Training seconds per 1,000 examples trained on."""
    seen = examples_seen(report, batch_size)
    return round(report.training.seconds / seen * 1000, 1) if seen else None


# --- the report ---------------------------------------------------------------------------


def show(
    results: Sequence[NodeResult],
    splits: Mapping[str, Sequence[Row]],
    embedding_accuracy: float | None,
    latency: Mapping[str, Mapping[str, float]],
    sizes: Sizes,
) -> None:
    test = splits["test"]
    majority = Counter(r.category for r in test).most_common(1)[0][1] / len(test)
    named = sum(r.entity_type is not None for r in test)
    table = Table(title=f"before and after tuning, on {len(test)} test rows (never trained on)")
    for column in ("node", "measure", "before", "after", "reference"):
        table.add_column(column, justify="left" if column in {"node", "measure"} else "right")
    references: dict[tuple[str, str], str] = {
        ("classify", "accuracy"): f"majority class {majority:.3f}"
        + (f"; embedding classifier {embedding_accuracy:.3f}" if embedding_accuracy is not None
           else ""),
        ("extract", "type"): f"{named} of {len(test)} rows name one",
        ("extract", "null_when_none"): f"{len(test) - named} rows name none",
        ("reply", "repetition"): "Bitext replies "
        f"{share([has_repeated_ngram(r.response) for r in test])}",
    }  # fmt: skip
    for result in results:
        for measure, before in result.before.items():
            after = result.after[measure]
            table.add_row(result.node, measure, _shown(before), _shown(after),
                          references.get((result.node, measure), ""))  # fmt: skip
    console.print(table)
    table = Table(title="training (LoRA on the GGUF's de-quantized weights, 2 threads)")
    for column in ("node", "train", "val", "steps", "stopped", "val loss", "seconds",
                   "s / 1,000 ex", "peak RSS GB", "gate", "saved"):  # fmt: skip
        table.add_column(
            column, justify="left" if column in {"node", "stopped", "gate"} else "right"
        )
    for result in results:
        report, training = result.report, result.report.training
        losses = training.validation_loss
        loss = f"{losses[0][1]:.3f} -> {losses[-1][1]:.3f}" if losses else "-"
        gate = "better" if report.better else "not better"
        table.add_row(result.node, str(training.train_examples), str(training.validation_examples),
                      f"{training.steps}/{training.planned_steps}", training.stopped, loss,
                      f"{training.seconds:.0f}", _shown(per_1000(report, sizes.batch_size)),
                      f"{training.peak_rss_gb:.2f}", gate,
                      report.saved.label if report.saved else "-")  # fmt: skip
    console.print(table)
    for result in results:
        for failure in result.report.failures:
            console.print(f"  {result.node} gate: {failure} (saved anyway: --keep-worse)")
    if latency:
        table = Table(title="a call with the adapter vs on the base (one server, interleaved)")
        for column in ("node", "calls", "base p50 s", "adapter p50 s", "adapter / base",
                       "tokens out p50 (base / adapter)"):  # fmt: skip
            table.add_column(column, justify="left" if column == "node" else "right")
        for node, timing in latency.items():
            table.add_row(node, str(sizes.latency_calls), f"{timing['base_s']:.3f}",
                          f"{timing['adapter_s']:.3f}", f"{timing['ratio']:.3f}",
                          f"{timing['base_tokens']:g} / {timing['adapter_tokens']:g}")  # fmt: skip
        console.print(table)
    for result in results:
        if result.node == "reply":
            for case in result.report.after.results[:2]:
                console.print(f"  reply after, {case.case_id}: {reply_text(case)[:200]!r}")


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def summary(
    results: Sequence[NodeResult],
    latency: Mapping[str, Mapping[str, float]],
    sizes: Sizes,
) -> dict[str, Any]:
    """The issue's JSON object (null for a node not tuned, and for the agent)."""
    by_node = {result.node: result for result in results}

    def score(node: str, side: str, measure: str) -> float | None:
        result = by_node.get(node)
        return None if result is None else getattr(result, side)[measure]

    trained = [(r.report.training.seconds, examples_seen(r.report, sizes.batch_size))
               for r in results]  # fmt: skip
    seen = sum(count for _, count in trained)
    timed = next((latency[node] for node in NODES if node in latency), None)
    return {
        "benchmark": "tune",
        "category_before": score("classify", "before", "accuracy"),
        "category_after": score("classify", "after", "accuracy"),
        "entity_type_after": score("extract", "after", "type"),
        "entity_value_after": score("extract", "after", "value"),
        "agent_success_before": score("agent", "before", "success"),
        "agent_success_after": score("agent", "after", "success"),
        "reply_repetition_before": score("reply", "before", "repetition"),
        "reply_repetition_after": score("reply", "after", "repetition"),
        "rouge_l_before": score("reply", "before", "rouge_l"),
        "rouge_l_after": score("reply", "after", "rouge_l"),
        "train_s_per_1000": round(sum(s for s, _ in trained) / seen * 1000, 1) if seen else None,
        "peak_rss_gb": round(max(r.report.training.peak_rss_gb for r in results), 3)
        if results
        else None,
        "adapter_over_base": round(timed["ratio"], 3) if timed else None,
    }


def details(
    results: Sequence[NodeResult],
    embedding_accuracy: float | None,
    latency: Mapping[str, Mapping[str, float]],
    splits: Mapping[str, Sequence[Row]],
    seconds: float,
    args: argparse.Namespace,
    sizes: Sizes,
) -> dict[str, Any]:
    test = splits["test"]
    return {
        "quick": args.quick, "seed": args.seed, "reply_dry": sizes.reply_dry,
        "rows": {split: len(rows) for split, rows in splits.items()},
        "majority_class": round(Counter(r.category for r in test).most_common(1)[0][1]
                                / len(test), 4),
        "embedding_classifier_accuracy": None if embedding_accuracy is None
        else round(embedding_accuracy, 4),
        "nodes": {r.node: {"before": r.before, "after": r.after, "better": r.report.better,
                           "failures": list(r.report.failures),
                           "saved": r.report.saved.label if r.report.saved else None,
                           "steps": r.report.training.steps,
                           "stopped": r.report.training.stopped,
                           "train_seconds": round(r.report.training.seconds, 1),
                           "train_s_per_1000": per_1000(r.report, sizes.batch_size),
                           "peak_rss_gb": round(r.report.training.peak_rss_gb, 3),
                           "tune_seconds": round(r.report.seconds, 1)} for r in results},
        "latency": {node: {k: round(v, 4) for k, v in t.items()} for node, t in latency.items()},
        "seconds": round(seconds, 1),
    }  # fmt: skip


def agent_mix(text: str) -> tuple[str, ...]:
    """`--agent-mix`: kinds of agent questions, comma-separated, each one `KINDS` has."""
    kinds = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(set(kinds) - set(KINDS))
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(
            f"kinds are {', '.join(sorted(set(KINDS)))}; got {', '.join(unknown) or 'none'}"
        )
    return kinds


def sizes_from(args: argparse.Namespace) -> Sizes:
    if args.quick:
        return Sizes(train=args.train or 40, dev=args.dev or 6, test=args.test or 12,
                     latency_calls=args.latency_calls or 6, max_steps=args.max_steps or 3,
                     batch_size=4, eval_every=3, agent_train=args.agent_train or 12,
                     agent_dev=4, agent_test=args.agent_test or 6,
                     patience=args.patience, agent_mix=args.agent_mix,
                     lr_schedule=args.lr_schedule, reply_dry=args.reply_dry)  # fmt: skip
    return Sizes(train=args.train or 1000, dev=args.dev or 100, test=args.test or 200,
                 max_batch_tokens=args.max_batch_tokens, epochs=args.epochs,
                 patience=args.patience, agent_mix=args.agent_mix, lr_schedule=args.lr_schedule,
                 latency_calls=args.latency_calls or 30, max_steps=args.max_steps,
                 batch_size=16, eval_every=10, agent_train=args.agent_train or 200,
                 agent_dev=20, agent_test=args.agent_test or 40,
                 reply_dry=args.reply_dry)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 40 train, 6 dev, 12 test rows, 3 steps"
    )
    parser.add_argument("--train", type=int, help="training rows (default 1000; quick 40)")
    parser.add_argument("--dev", type=int, help="validation rows (default 100; quick 6)")
    parser.add_argument("--test", type=int, help="test rows (default 200; quick 12)")
    parser.add_argument("--max-steps", type=int, help="cap the optimizer steps (quick 3)")
    parser.add_argument(
        "--agent-train", type=int, help="worked agent tasks (default 200; quick 12)"
    )
    parser.add_argument(
        "--max-batch-tokens", type=int, help="tune.max_batch_tokens (default: the trainer's)"
    )
    parser.add_argument("--epochs", type=int, help="tune.epochs (default: the trainer's, 1)")
    parser.add_argument(
        "--patience",
        type=int,
        help="tune.early_stop_patience (default: the trainer's, 3; 0 never stops early)",
    )
    parser.add_argument(
        "--lr-schedule",
        choices=get_args(LrSchedule),
        help="tune.lr_schedule (default: the trainer's, constant)",
    )
    parser.add_argument(
        "--agent-mix",
        type=agent_mix,
        default=KINDS,
        help="the worked tasks' kinds, in turn, comma-separated (default: the test's mix, "
        + ",".join(KINDS)
        + ")",
    )
    parser.add_argument(
        "--reply-dry",
        type=float,
        default=REPLY_DRY,
        help=f"the reply node's dry_multiplier (default {REPLY_DRY}; 0: no DRY sampler)",
    )
    parser.add_argument("--agent-test", type=int, help="agent questions (default 40; quick 6)")
    parser.add_argument("--latency-calls", type=int, help="paired calls (default 30; quick 6)")
    parser.add_argument("--seed", type=int, default=0, help="row draw and training seed")
    parser.add_argument("--nodes", nargs="+", choices=NODES, default=list(NODES))
    parser.add_argument("--dataset", type=Path, default=DATASET, help="the Bitext CSV")
    parser.add_argument("--keep", type=Path, help="build the project here and keep it")
    args = parser.parse_args()
    logging.getLogger("dspy").setLevel(logging.WARNING)
    sizes = sizes_from(args)
    splits = split_rows(load_rows(args.dataset), sizes, args.seed)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.keep:
            root = args.keep
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tune-bench-")))
        write_project(root, splits, sizes, args.seed)
        project = load_project(root=root)
        nodes = [node for node in NODES if node in args.nodes]
        results = [tune_node(project, node, sizes.train) for node in nodes]
        embedding = embedding_classifier(project, splits) if "classify" in nodes else None
        stderr.rule("latency with and without the adapters")
        with notes_to_stderr():
            latency = asyncio.run(
                adapter_latency(project, results, splits["test"], sizes.latency_calls)
            )
    seconds = time.perf_counter() - started
    show(results, splits, embedding, latency, sizes)
    console.print(f"{time.perf_counter() - started:.0f} s in all")
    print(json.dumps({"details": details(results, embedding, latency, splits, seconds, args,
                                         sizes)}))  # fmt: skip
    print(json.dumps(summary(results, latency, sizes)), flush=True)


if __name__ == "__main__":
    main()
