"""Quality of the example support flow on real Bitext messages, on the embedded model.

A seeded random sample of the Bitext customer-support dataset (4514 rows with gold category,
entity type and entity value) goes through `examples/flows/support.yaml` (classify -> extract ->
reply) on the project's tiers (`examples/stepladder.yaml`: SmolLM2-135M-Instruct on llama.cpp),
one message at a time.

A node whose output stays invalid after its retries raises `NodeOutputError`; the message then
counts as a failure of that node, and the nodes after it count as not run (and as wrong for
the accuracy figures). Every share is over all sampled messages unless its name says otherwise
(`entity_*`: rows whose gold row names an entity; `no_entity_null`: rows naming none).

The runs go through the flow's LangGraph app with the flow's run context, like `run_flow`
(which has no checkpoint here), so the usage ledger of a failed run is still readable.

    .venv/bin/python benchmarks/support_quality.py [--n 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import TextColumn
from rich.table import Table

from stepladder import Flow, ModelError, NodeOutputError, compile_flow, load_flow
from stepladder.config import load_project
from stepladder.progress import progress_bar
from stepladder.runtimes import ModelPool
from stepladder.runtimes.usage import ModelCall

ROOT = Path(__file__).resolve().parents[1]
DATASET = Path(
    "/work/shared/data/support/bitext/Bitext_Sample_Customer_Support_Training_Dataset_4514.csv"
)
NODES = ("classify", "extract", "reply")
OK, INVALID, ERROR, NOT_RUN = "ok", "invalid", "error", "not run"


@dataclass
class Outcome:
    """One message's run: what each node did, its final state and its model calls."""

    row: dict[str, str]
    status: dict[str, str]
    state: dict[str, Any]
    calls: list[ModelCall]
    seconds: float
    problem: str = ""

    def valid(self, node: str) -> bool:
        return self.status[node] == OK


@dataclass
class Summary:
    """Counts over the sample (filled by `summarise`)."""

    results: dict[str, Any] = field(default_factory=dict)
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_category: dict[str, list[bool]] = field(default_factory=dict)
    by_entity: dict[str, list[tuple[bool, bool]]] = field(default_factory=dict)
    problems: Counter[str] = field(default_factory=Counter)
    entity_misses: list[tuple[str, str, str]] = field(default_factory=list)
    predicted_categories: Counter[str] = field(default_factory=Counter)
    predicted_entities: Counter[str] = field(default_factory=Counter)
    replies: list[tuple[str, str]] = field(default_factory=list)


def load_rows(path: Path, n: int, seed: int) -> list[dict[str, str]]:
    """A seeded random sample of `n` rows of the dataset."""
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return random.Random(seed).sample(rows, min(n, len(rows)))


def normalise(value: Any) -> str:
    """Case- and whitespace-insensitive text; digit strings without leading zeros."""
    text = re.sub(r"\s+", " ", str(value)).strip().casefold()
    return (text.lstrip("0") or "0") if text.isdigit() else text


async def run_one(flow: Flow, pool: ModelPool, row: dict[str, str]) -> Outcome:
    """Run the flow on one message, catching a node's invalid output or a model error."""
    context = flow.context(pool)
    status = dict.fromkeys(NODES, NOT_RUN)
    state: dict[str, Any] = {}
    problem = ""
    started = time.perf_counter()
    try:
        async for mode, chunk in flow.app.astream(
            flow.prepare_input({"message": row["instruction"]}),
            context=context,
            stream_mode=["updates", "values"],
        ):
            if mode == "values":
                state = dict(chunk)
            else:
                for node_id in chunk:
                    status[node_id] = OK
    except NodeOutputError as error:
        status[error.node_id] = INVALID
        problem = f"{error.node_id}: {_problem(str(error))}"
    except ModelError as error:
        failed = next(node for node in NODES if status[node] == NOT_RUN)
        status[failed] = ERROR
        problem = f"{failed}: model error: {str(error)[:120]}"
    return Outcome(
        row, status, state, list(context.usage.calls), time.perf_counter() - started, problem
    )


def _problem(message: str) -> str:
    """The reason in a NodeOutputError's message, without the raw output."""
    found = re.search(r"invalid after \d+ attempt\(s\) \((.*?)\); raw output", message)
    return found.group(1) if found else message[:120]


def summarise(outcomes: Sequence[Outcome]) -> Summary:
    summary = Summary()
    n = len(outcomes)
    category_right = entity_exact = entity_norm = entity_type_right = no_entity_null = 0
    with_entity = without_entity = value_in_message = 0
    confidences: dict[bool, list[float]] = {True: [], False: []}
    for outcome in outcomes:
        row, state = outcome.row, outcome.state
        if outcome.problem:
            summary.problems[outcome.problem] += 1
        predicted = state.get("category") if outcome.valid("classify") else None
        if outcome.valid("classify"):
            summary.predicted_categories[str(predicted)] += 1
        right = predicted == row["category"]
        category_right += right
        summary.by_category.setdefault(row["category"], []).append(right)
        if outcome.valid("classify") and not right:
            summary.confusions[(row["category"], str(predicted))] += 1
        if outcome.valid("classify") and isinstance(state.get("confidence"), float):
            confidences[right].append(state["confidence"])

        extracted = outcome.valid("extract")
        kind, value = state.get("entity_type"), state.get("entity_value")
        if extracted:
            summary.predicted_entities[str(kind)] += 1
        if outcome.valid("reply"):
            summary.replies.append((row["instruction"], str(state.get("reply") or "")))
        if row["entity_type"]:
            with_entity += 1
            value_in_message += row["entity_value"].casefold() in row["instruction"].casefold()
            type_ok = extracted and kind == row["entity_type"]
            exact = type_ok and value is not None and str(value) == row["entity_value"]
            norm = (
                type_ok and value is not None and normalise(value) == normalise(row["entity_value"])
            )
            entity_type_right += type_ok
            entity_exact += exact
            entity_norm += norm
            summary.by_entity.setdefault(row["entity_type"], []).append((type_ok, norm))
            if extracted and not norm:
                summary.entity_misses.append(
                    (row["instruction"], f"{row['entity_type']}={row['entity_value']}",
                     f"{kind}={value}")
                )  # fmt: skip
        else:
            without_entity += 1
            no_entity_null += extracted and kind is None and value is None

    calls = [call for outcome in outcomes for call in outcome.calls]
    retries = [sum(call.attempt > 1 for call in outcome.calls) for outcome in outcomes]
    per_message = [outcome.seconds for outcome in outcomes]
    # Per run, as `RunResult.usage` gives it: seconds / calls.
    usage_ratio = [
        sum(c.seconds for c in outcome.calls) / len(outcome.calls)
        for outcome in outcomes
        if outcome.calls
    ]

    gold_counts = Counter(outcome.row["category"] for outcome in outcomes)
    reply_lengths = [len(reply) for _, reply in summary.replies]
    # A reply that is only a category label (the reply node also reads `category`).
    labels = {*gold_counts, *summary.predicted_categories}
    label_replies = sum(reply.strip().upper() in labels for _, reply in summary.replies)

    def share(count: int, total: int) -> float | None:
        return round(count / total, 4) if total else None

    def valid_share(node: str) -> float | None:
        return share(sum(o.valid(node) for o in outcomes), n)

    results: dict[str, Any] = {
        "benchmark": "support_quality",
        "n": n,
        "classify_valid": valid_share("classify"),
        "extract_valid": valid_share("extract"),
        "reply_valid": valid_share("reply"),
        "extract_valid_of_run": share(
            sum(o.valid("extract") for o in outcomes),
            sum(o.status["extract"] != NOT_RUN for o in outcomes),
        ),
        "completed": share(sum(all(o.valid(k) for k in NODES) for o in outcomes), n),
        "category_accuracy": share(category_right, n),
        "category_majority_baseline": share(max(gold_counts.values(), default=0), n),
        "top_predicted_category_share": share(
            max(summary.predicted_categories.values(), default=0), n
        ),
        "with_entity": with_entity,
        "entity_type_accuracy": share(entity_type_right, with_entity),
        "entity_exact": share(entity_exact, with_entity),
        "entity_normalised": share(entity_norm, with_entity),
        "gold_value_in_message": share(value_in_message, with_entity),
        "without_entity": without_entity,
        "no_entity_null": share(no_entity_null, without_entity),
        "reply_chars_p50": _p50(reply_lengths),
        "reply_is_a_label": share(label_replies, len(summary.replies)),
        "mean_retries": round(statistics.fmean(retries), 3) if retries else None,
        "retries_by_node": {
            node: sum(c.attempt > 1 for c in calls if c.node_id == node) for node in NODES
        },
        "calls": len(calls),
        "seconds_per_call_p50": _p50([c.seconds for c in calls]),
        "usage_seconds_per_call_p50": _p50(usage_ratio),
        **{f"{node}_seconds_per_call_p50": _p50(
            [c.seconds for c in calls if c.node_id == node]) for node in NODES},
        "seconds_per_message_p50": _p50(per_message),
        "seconds_per_message_mean": round(statistics.fmean(per_message), 3) if n else None,
        "confidence_right_mean": _mean(confidences[True]),
        "confidence_wrong_mean": _mean(confidences[False]),
    }  # fmt: skip
    summary.results = results
    return summary


def _p50(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def report(console: Console, summary: Summary, tiers: str) -> None:
    r = summary.results
    console.print(f"[bold]support flow on {r['n']} Bitext messages[/bold] ({tiers})")
    table = Table(title="per gold category")
    for column in ("category", "rows", "accuracy"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for category, rights in sorted(summary.by_category.items()):
        table.add_row(category, str(len(rights)), f"{sum(rights) / len(rights):.2f}")
    console.print(table)
    if summary.confusions:
        top = ", ".join(f"{g} -> {p} ({c})" for (g, p), c in summary.confusions.most_common(8))
        console.print(f"most common confusions (gold -> predicted): {top}")
    table = Table(title="per gold entity type")
    for column in ("entity_type", "rows", "type right", "normalised match"):
        table.add_column(column, justify="left" if column == "entity_type" else "right")
    for kind, pairs in sorted(summary.by_entity.items()):
        table.add_row(
            kind,
            str(len(pairs)),
            f"{sum(t for t, _ in pairs) / len(pairs):.2f}",
            f"{sum(m for _, m in pairs) / len(pairs):.2f}",
        )
    console.print(table)
    console.print(
        "predicted categories: "
        + ", ".join(f"{k} {v}" for k, v in summary.predicted_categories.most_common()),
        highlight=False,
    )
    console.print(
        "predicted entity types: "
        + ", ".join(f"{k} {v}" for k, v in summary.predicted_entities.most_common()),
        highlight=False,
    )
    for message, reply in summary.replies[:4]:
        console.print(f"  reply to {message!r}: {reply[:150]!r}", highlight=False)
    for message, gold, got in summary.entity_misses[:8]:
        console.print(f"  entity miss: {message!r}: gold {gold}, got {got}", highlight=False)
    for problem, count in summary.problems.most_common(8):
        console.print(f"  failure x{count}: {problem}", highlight=False)
    lines = [
        ("valid output", f"classify {r['classify_valid']}, extract {r['extract_valid']} "
         f"({r['extract_valid_of_run']} of those run), reply {r['reply_valid']}"),
        ("category accuracy", f"{r['category_accuracy']} (majority class: "
         f"{r['category_majority_baseline']}; most predicted label: "
         f"{r['top_predicted_category_share']})"),
        ("entity (rows with one)", f"{r['with_entity']} rows: type {r['entity_type_accuracy']}, "
         f"exact {r['entity_exact']}, normalised {r['entity_normalised']} (gold value found "
         f"in the message: {r['gold_value_in_message']})"),
        ("no entity -> null", f"{r['without_entity']} rows: {r['no_entity_null']}"),
        ("replies", f"{r['reply_chars_p50']} chars (p50); only a label: {r['reply_is_a_label']}"),
        ("retries per message", f"{r['mean_retries']} (retries by node: {r['retries_by_node']})"),
        ("seconds per call (p50)", f"{r['seconds_per_call_p50']} (classify "
         f"{r['classify_seconds_per_call_p50']}, extract {r['extract_seconds_per_call_p50']}, "
         f"reply {r['reply_seconds_per_call_p50']})"),
        ("seconds per message", f"p50 {r['seconds_per_message_p50']}, "
         f"mean {r['seconds_per_message_mean']}"),
        ("classify confidence", f"right {r['confidence_right_mean']}, "
         f"wrong {r['confidence_wrong_mean']}"),
    ]  # fmt: skip
    for name, text in lines:
        console.print(f"{name:>24}: {text}", highlight=False)


async def bench(n: int, seed: int, project_dir: Path, dataset: Path) -> dict[str, Any]:
    console = Console()
    project = load_project(root=project_dir)
    spec = load_flow(project.flow_path("support"))
    # The small model alone is measured: no node escalates up the ladder here, and classify
    # asks the model (not the example's embedding classifier, its first rung in the flow).
    alone = {"escalate": None, "using": "llm", "classifier": None}
    nodes = [n.model_copy(update={k: v for k, v in alone.items() if hasattr(n, k)})
             for n in spec.nodes]  # fmt: skip
    spec = spec.model_copy(update={"nodes": nodes})
    tiers = project.settings.tiers
    flow = compile_flow(spec, project_root=project.root, tiers=set(tiers))
    rows = load_rows(dataset, n, seed)
    outcomes: list[Outcome] = []
    async with ModelPool(tiers) as pool:
        await pool.start(flow.tiers)
        with progress_bar(TextColumn("{task.fields[stats]}")) as progress:
            task = progress.add_task("support flow", total=len(rows), stats="")
            for row in rows:
                outcomes.append(await run_one(flow, pool, row))
                right = sum(o.state.get("category") == o.row["category"] for o in outcomes)
                failed = sum(bool(o.problem) for o in outcomes)
                progress.update(
                    task, advance=1, stats=f"category {right}/{len(outcomes)}, failed {failed}"
                )
    summary = summarise(outcomes)
    summary.results["seed"] = seed
    described = ", ".join(
        f"{name}: {getattr(s, 'model', s.__class__.__name__)} (parallel "
        f"{getattr(s, 'parallel', '-')}, max_tokens {s.max_tokens})"
        for name, s in tiers.items()
    )
    report(console, summary, described)
    return summary.results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="messages to sample")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--project", type=Path, default=ROOT / "examples", help="project folder")
    parser.add_argument("--dataset", type=Path, default=DATASET, help="the Bitext CSV")
    args = parser.parse_args()
    results = asyncio.run(bench(args.n, args.seed, args.project, args.dataset))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
