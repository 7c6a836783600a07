"""Which rung answered each node: the share of an eval run's cases per node and rung.

A node with a ladder (`escalate:`, `tier_from:` or `using: embeddings` with an escalation)
records the rung that gave its final answer: a tier, `embeddings` (the embedding
classifier) or `human`. A route node's decision shows here as the share of cases each rung
answered, next to quality and cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel
from rich.table import Table

from stepladder.evalsets.results import CaseResult

__all__ = ["RungShare", "rung_shares", "rung_table"]


class RungShare(BaseModel):
    """How many of a run's cases one rung answered for one node.

    Attributes:
        node: The node's id.
        rung: The rung: a tier name, `embeddings` or `human`.
        cases: Cases whose node this rung answered.
        share: `cases` over the cases where the node answered at all.
    """

    node: str
    rung: str
    cases: int
    share: float


def rung_shares(cases: Sequence[CaseResult]) -> list[RungShare]:
    """Per node, the share of cases each rung answered (nodes and rungs in first-seen order)."""
    counts: dict[str, Counter[str]] = {}
    for case in cases:
        for node, rung in case.rungs.items():
            counts.setdefault(node, Counter())[rung] += 1
    shares: list[RungShare] = []
    for node, by_rung in counts.items():
        total = sum(by_rung.values())
        shares.extend(RungShare(node=node, rung=rung, cases=count, share=count / total)
                      for rung, count in by_rung.items())  # fmt: skip
    return shares


def rung_table(columns: Sequence[tuple[str, Sequence[RungShare]]]) -> Table:
    """A table of rung shares, one column per run (`(label, shares)`)."""
    table = Table(
        title="rung that answered (share of cases)", box=None, padding=(0, 1, 0, 0),
        header_style="bold underline",
    )  # fmt: skip
    table.add_column("node", no_wrap=True)
    table.add_column("rung", no_wrap=True)
    for label, _ in columns:
        table.add_column(label, justify="right", no_wrap=True)
    keys = list(dict.fromkeys((s.node, s.rung) for _, shares in columns for s in shares))
    for node, rung in keys:
        cells = []
        for _, shares in columns:
            found = next((s for s in shares if (s.node, s.rung) == (node, rung)), None)
            cells.append("-" if found is None else f"{found.share:.1%} ({found.cases})")
        table.add_row(node, rung, *cells)
    return table
