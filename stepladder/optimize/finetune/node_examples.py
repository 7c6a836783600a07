"""A flow's LLM nodes' examples from labelled rows: reads resolved, labels checked, counted.

A node's reads come from the row: flow inputs from its inputs; a key an upstream node writes
from the row's gold value of that key (an eval case's `expected`), checked against the
state key's type. A row without that gold value does not teach the node (skipped and counted,
naming the key); upstream nodes are never run. A review gives the node's reads itself.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stepladder.errors import UserError
from stepladder.flows import Flow
from stepladder.flows.state_check import KeyCheck, state_checks
from stepladder.optimize.finetune.agent_render import AgentRenderer
from stepladder.optimize.finetune.examples import TrainingExample
from stepladder.optimize.finetune.render import NodeRenderer, RenderProblem
from stepladder.optimize.finetune.rows import LabelledRow, RowProblem

__all__ = ["NodeCounts", "NodeExamples"]


@dataclass(frozen=True)
class NodeCounts:
    """What one node got.

    Attributes:
        train: Training examples by source kind (`evalset`, `capture`, `review`).
        validation: Validation examples by source kind.
        skipped: Rows that could not teach the node, by reason.
        duplicates: Identical examples dropped (the first one kept).
        held_out: Examples moved from training to validation (no source gave any).
    """

    train: dict[str, int] = field(default_factory=dict)
    validation: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    held_out: int = 0


class NodeExamples:
    """Examples per node, with what was skipped, refused and dropped.

    Args:
        flow: The flow (its state types check gold values of the keys a node reads).
        source_skips: Cases the sources skipped, by reason (reported with every node).
    """

    def __init__(self, flow: Flow, source_skips: Counter[str]) -> None:
        self.flow = flow
        self.checks: dict[str, KeyCheck] = state_checks(flow.spec, flow.state_types)
        self.writers = {key: node.id for node in flow.spec.nodes for key in node.writes}
        self.source_skips = source_skips
        self.train: dict[str, list[TrainingExample]] = {}
        self.validation: dict[str, list[TrainingExample]] = {}
        self.kinds: dict[str, str] = {}
        self.skipped: dict[str, Counter[str]] = {}
        self.duplicates: Counter[str] = Counter()
        self.held_out: Counter[str] = Counter()
        self.problems: list[RowProblem] = []

    def add_node(self, renderer: NodeRenderer | AgentRenderer, rows: Sequence[LabelledRow]) -> None:
        """Render every row that can teach the node; skip or refuse (`problems`) the others."""
        node = renderer.node_id
        self.train[node], self.validation[node] = [], []
        skipped = self.skipped[node] = Counter(self.source_skips)
        for row in rows:
            if row.node not in (None, node):
                continue
            reads = self._reads(renderer, row)
            if isinstance(reads, str):
                skipped[f"{row.kind}: {reads}"] += 1
                continue
            missing = [name for name in renderer.gold_keys if name not in row.gold]
            if missing:
                skipped[f"{row.kind}: no gold value for '{missing[0]}'"] += 1
                continue
            try:
                rendered = renderer.examples(reads, {k: row.gold[k] for k in renderer.gold_keys})
            except RenderProblem as problem:
                self.problems.append(RowProblem(row.where, f"node '{node}': {problem}"))
                continue
            self.kinds[row.source] = row.kind
            for messages, completion in rendered:
                example = TrainingExample(node, messages, completion, row.source, row.input_hash)
                (self.train if row.split == "train" else self.validation)[node].append(example)

    def _reads(
        self, renderer: NodeRenderer | AgentRenderer, row: LabelledRow
    ) -> dict[str, Any] | str:
        """The node's reads for the row, or why the row cannot give them (a skip).

        A gold value that does not fit its state key is recorded as a problem.
        """
        if row.reads is not None:
            lacking = [key for key in renderer.reads if key not in row.reads]
            if lacking:
                return f"the review lacks the read '{lacking[0]}' (the node changed since)"
            return {key: row.reads[key] for key in renderer.reads}
        reads: dict[str, Any] = {}
        for key in renderer.reads:
            if key in row.inputs:
                reads[key] = row.inputs[key]
            elif key in row.gold:
                check = self.checks.get(key)
                if check is not None and not check.fits(row.gold[key]):
                    self.problems.append(RowProblem(row.where, _misfit(key, row.gold[key], check)))
                    return f"a bad value for '{key}'"
                reads[key] = row.gold[key]
            elif key in self.writers:
                return (
                    f"no gold value for '{key}', which node '{self.writers[key]}' writes "
                    "(give it in the case's expected values)"
                )
            else:
                state_field = self.flow.spec.state.get(key)
                has_default = state_field is not None and state_field.has_default
                reads[key] = state_field.default if has_default and state_field else None
        return reads

    def finish(self, val_fraction: float, seed: int, min_examples: int) -> None:
        """Drop duplicates, hold out validation examples where none came, check the counts.

        Raises:
            UserError: When a node has fewer training examples than `min_examples`.
        """
        for node in self.train:
            seen: set[tuple[Any, ...]] = set()
            for examples in (self.train[node], self.validation[node]):
                kept = [e for e in examples if not _seen(e, seen)]
                self.duplicates[node] += len(examples) - len(kept)
                examples[:] = kept
            if not self.validation[node] and len(self.train[node]) > 1:
                self._hold_out(node, val_fraction, seed)
        short = [node for node in self.train if len(self.train[node]) < min_examples]
        if short:
            raise UserError(self._too_little(short, min_examples))

    def _hold_out(self, node: str, val_fraction: float, seed: int) -> None:
        examples = self.train[node]
        count = min(len(examples) - 1, max(1, round(len(examples) * val_fraction)))
        picked = set(random.Random(seed).sample(range(len(examples)), count))
        self.validation[node] = [e for i, e in enumerate(examples) if i in picked]
        self.train[node] = [e for i, e in enumerate(examples) if i not in picked]
        self.held_out[node] = count

    def _too_little(self, nodes: Sequence[str], needed: int) -> str:
        parts = []
        for node in nodes:
            counts = self._by_kind(self.train[node])
            found = ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "none"
            skipped = "; ".join(f"{n} {why}" for why, n in self.skipped[node].most_common())
            parts.append(
                f"node '{node}' has {len(self.train[node])} training example(s) "
                f"(from: {found})" + (f"; skipped: {skipped}" if skipped else "")
            )
        return (
            f"too little data to tune: at least {needed} training examples are needed per "
            f"node (min_examples). {'. '.join(parts)}. Add labelled cases (eval cases outside "
            "the test split, reviewed captures, answered reviews), or lower min_examples."
        )

    def _by_kind(self, examples: Sequence[TrainingExample]) -> dict[str, int]:
        return dict(Counter(self.kinds[e.source] for e in examples))

    def counts(self) -> dict[str, NodeCounts]:
        """What each node got."""
        return {
            node: NodeCounts(
                train=self._by_kind(self.train[node]),
                validation=self._by_kind(self.validation[node]),
                skipped=dict(self.skipped[node]),
                duplicates=self.duplicates[node],
                held_out=self.held_out[node],
            )
            for node in self.train
        }


def _seen(example: TrainingExample, seen: set[tuple[Any, ...]]) -> bool:
    key = (example.node, json.dumps([dict(m) for m in example.messages]), example.completion)
    if key in seen:
        return True
    seen.add(key)
    return False


def _misfit(key: str, value: Any, check: KeyCheck) -> str:
    return f"expected '{key}': {value!r} does not fit the state key's type ({check.declared})"
