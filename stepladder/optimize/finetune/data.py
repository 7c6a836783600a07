"""Supervised examples for a flow's LLM nodes, from the project's own labelled data.

Sources: an eval set's cases (its test split never), captured cases (reviewed, or labelled
by a higher tier) and answered human reviews. Each example is the node's run-time prompt for
the row's values (`NodeRenderer`) and the gold answer as the node's output JSON; an agent's
examples are every call of a worked task, from rows that label its steps (`AgentRenderer`). A node
that is not the flow's first takes the keys upstream nodes write from the rows' gold values
(`NodeExamples`); upstream nodes are never run.

Refused, with every offending row named: rows whose flow inputs equal a test case's (by
`input_hash`), and labels that do not fit the node's schema or the state key's type. Too few
examples for a node is refused with the count needed and found.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepladder.errors import UserError
from stepladder.evalsets.spec import LoadedEvalSpec
from stepladder.flows import Flow
from stepladder.optimize.finetune.agent_render import renderer_for
from stepladder.optimize.finetune.examples import TrainingExample
from stepladder.optimize.finetune.node_examples import NodeCounts, NodeExamples
from stepladder.optimize.finetune.review_rows import review_rows
from stepladder.optimize.finetune.rows import (
    LabelledRow,
    RowProblem,
    Rows,
    capture_rows,
    evalset_rows,
    test_hashes,
)

__all__ = ["DataOptions", "NodeCounts", "TrainingData", "build_training_data", "data_hash"]

MAX_SHOWN = 20


@dataclass(frozen=True)
class DataOptions:
    """How the examples are chosen.

    Attributes:
        test_split: The eval's held-out split: never trained on, and rows equal to its
            cases are refused.
        use_eval_cases: Train on the eval's non-test cases (else only on captures and
            reviews; the eval still names the test cases).
        val_fraction: Share of the eval's non-test cases that validate when none is in
            split `train`; also the share held out of a node's examples to validate when
            no source gives it validation examples.
        seed: Seed of those draws.
        min_examples: The fewest training examples a node needs.
    """

    test_split: str = "test"
    use_eval_cases: bool = True
    val_fraction: float = 0.2
    seed: int = 0
    min_examples: int = 20


@dataclass(frozen=True)
class TrainingData:
    """The examples, and how they were made.

    Attributes:
        flow: The flow's name.
        train: Training examples (node by node, each in its sources' order).
        validation: Validation examples (for early stopping and the loss curve).
        nodes: Counts per node.
        data_hash: `data_hash(train, validation)`.
        splits: How the eval's cases were divided (empty when they were not used).
        test_split: The held-out split.
        test_cases: How many cases it holds.
    """

    flow: str
    train: tuple[TrainingExample, ...]
    validation: tuple[TrainingExample, ...]
    nodes: dict[str, NodeCounts]
    data_hash: str
    splits: str
    test_split: str
    test_cases: int

    def summary(self) -> dict[str, Any]:
        """The counts and the hash, as JSON-ready data (for a manifest or a report)."""
        return {
            "flow": self.flow,
            "train": len(self.train),
            "validation": len(self.validation),
            "nodes": {node: counts.__dict__ for node, counts in self.nodes.items()},
            "data_hash": self.data_hash,
            "splits": self.splits,
            "test_split": self.test_split,
            "test_cases": self.test_cases,
        }


def build_training_data(
    flow: Flow,
    evalset: LoadedEvalSpec,
    nodes: Sequence[str] = (),
    *,
    captures: Sequence[Path] = (),
    reviews: Path | None = None,
    options: DataOptions | None = None,
) -> TrainingData:
    """Build training and validation examples for `nodes` of `flow`.

    Args:
        flow: The compiled flow, its compiled prompts loaded, on the tier being tuned
            (`compile_project_flow(project, flow, tier)`) so that every node to tune has its
            model program.
        evalset: The eval set: its test split is held out; its other cases train and
            validate unless `options.use_eval_cases` is False.
        nodes: The nodes to build examples for (default: every LLM node of the flow; an
            agent node only when named).
        captures: Captured-case JSONL files or folders of them.
        reviews: The checkpoint database holding answered human reviews.
        options: Splits, seed and the minimum count.

    Raises:
        UserError: For an unknown node or one that cannot be tuned (an agent without
            `trajectory:`, a module's program); no test
            split; rows equal to test cases, or labels that do not fit (each row named);
            too few examples for a node (the count needed and found).
        EvalSetError: For a cases file with bad lines.
    """
    options = options or DataOptions()
    chosen = list(dict.fromkeys(nodes)) or list(flow.programs)
    if not chosen:
        raise UserError(f"flow '{flow.name}' has no LLM node to tune.")
    renderers = {node: renderer_for(flow, node) for node in chosen}
    cases = evalset.load_cases()
    held_out = test_hashes(flow, cases, options.test_split)
    if not held_out:
        raise UserError(_no_test_split(evalset, options.test_split, cases))
    sources, splits = _read_sources(flow, evalset, cases, chosen, captures, reviews, options)
    _refuse_test_rows(sources.rows, held_out, evalset, options.test_split)
    built = NodeExamples(flow, sources.skipped)
    for renderer in renderers.values():
        built.add_node(renderer, sources.rows)
    problems = sources.problems + built.problems
    if problems:
        raise UserError(_bad_rows(problems))
    built.finish(options.val_fraction, options.seed, options.min_examples)
    train = tuple(e for node in chosen for e in built.train[node])
    validation = tuple(e for node in chosen for e in built.validation[node])
    return TrainingData(
        flow=flow.name, train=train, validation=validation, nodes=built.counts(),
        data_hash=data_hash(train, validation), splits=splits,
        test_split=options.test_split,
        test_cases=sum(1 for case in cases if case.split == options.test_split),
    )  # fmt: skip


def data_hash(train: Sequence[TrainingExample], validation: Sequence[TrainingExample]) -> str:
    """sha256 over the examples in order (split, node, messages, completion), one per line."""
    digest = hashlib.sha256()
    for split, examples in (("train", train), ("validation", validation)):
        for example in examples:
            line = {"split": split, "node": example.node,
                    "messages": [dict(m) for m in example.messages],
                    "completion": example.completion}  # fmt: skip
            digest.update(json.dumps(line, sort_keys=True, ensure_ascii=False).encode("utf-8"))
            digest.update(b"\n")
    return digest.hexdigest()


def _read_sources(
    flow: Flow,
    evalset: LoadedEvalSpec,
    cases: Sequence[Any],
    nodes: Sequence[str],
    captures: Sequence[Path],
    reviews: Path | None,
    options: DataOptions,
) -> tuple[Rows, str]:
    """Every source's rows, problems and skips, merged; how the eval's cases were split."""
    merged, splits = Rows(), ""
    parts: list[Rows] = []
    if options.use_eval_cases:
        from_eval, splits = evalset_rows(
            flow, evalset, cases, test_split=options.test_split,
            val_fraction=options.val_fraction, seed=options.seed,
        )  # fmt: skip
        parts.append(from_eval)
    if captures:
        parts.append(capture_rows(flow, captures, options.test_split))
    if reviews is not None:
        parts.append(review_rows(flow, reviews, nodes))
    for part in parts:
        merged.rows += part.rows
        merged.problems += part.problems
        merged.skipped.update(part.skipped)
    return merged, splits


def _no_test_split(evalset: LoadedEvalSpec, test_split: str, cases: Sequence[Any]) -> str:
    found = sorted({case.split for case in cases if case.split}) or ["(none)"]
    return (
        f"eval '{evalset.spec.name}' has no case in split '{test_split}' (splits: "
        f"{', '.join(found)}); tuning keeps a test split out of training to measure the "
        f"tuned node on. Mark some cases `split: {test_split}`, or name another split."
    )


def _refuse_test_rows(
    rows: Sequence[LabelledRow], held_out: Mapping[str, str], evalset: LoadedEvalSpec, split: str
) -> None:
    leaks = [(row, held_out[row.input_hash]) for row in rows if row.input_hash in held_out]
    if not leaks:
        return
    shown = [f"{row.where} = test case {case}" for row, case in leaks[:MAX_SHOWN]]
    more = f" (and {len(leaks) - MAX_SHOWN} more)" if len(leaks) > MAX_SHOWN else ""
    raise UserError(
        f"{len(leaks)} row(s) have the same flow inputs as a case in split '{split}' of eval "
        f"'{evalset.spec.name}', which is never trained on: {'; '.join(shown)}{more}. "
        "Remove them from the training data (or the case from the test split)."
    )


def _bad_rows(problems: Sequence[RowProblem]) -> str:
    shown = [f"{p.where}: {p.problem}" for p in problems[:MAX_SHOWN]]
    more = f" (and {len(problems) - MAX_SHOWN} more)" if len(problems) > MAX_SHOWN else ""
    return (
        f"{len(problems)} row(s) cannot train: {'; '.join(shown)}{more}. Fix the values "
        "(they must fit the node's output fields and the flow's state types) or remove the rows."
    )
