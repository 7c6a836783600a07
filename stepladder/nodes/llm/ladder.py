"""A node's ladder: the rungs it may climb, and the flow-level checks of `escalate:`.

The rungs are the node's first rung (its tier, or `embeddings` for an escalating embedding
classifier), then `escalate.to` or the project's `ladder` from `stepladder.yaml`. Everything
here reads a node through the contract of `NodeSpecBase` (`first_rung()`, `escalation()`,
`tier_key()`), so it holds for every kind.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from stepladder.nodes.base import NodeSpecBase
from stepladder.nodes.llm.escalation import EMBEDDINGS, HUMAN, JudgeVerifier
from stepladder.specs.locations import LocatedDocument, near_miss, valid_choices

__all__ = ["check_escalation", "node_ladder", "reaches_human", "verifier_tiers"]


def node_ladder(node: NodeSpecBase, ladder: Sequence[str]) -> tuple[str, ...]:
    """The rungs a node may run on, cheapest first; its own first rung is among them.

    With `escalate.to`: the node's tier, then those rungs. Otherwise the project's ladder
    when the node's tier is on it, else the node's tier alone. An embedding classifier's
    first rung is `embeddings` itself. Nodes without a tier have no rungs.
    """
    first = node.first_rung()
    if first is None:
        return ()
    policy = node.escalation()
    if policy is not None and policy.to is not None:
        above = list(policy.to)
        if first in above:
            above = above[above.index(first) + 1 :]
        return (first, *above)
    if first == EMBEDDINGS:
        return (first, *ladder)
    return tuple(ladder) if first in ladder else (first,)


def reaches_human(node: NodeSpecBase, ladder: Sequence[str]) -> bool:
    """Whether the node can escalate to (or be routed to) a human reviewer."""
    if node.escalation() is None and node.tier_key() is None:
        return False
    return HUMAN in node_ladder(node, ladder)


def verifier_tiers(node: NodeSpecBase) -> set[str]:
    """The judge tiers a node's verifier uses (started with the run's tiers)."""
    policy = node.escalation()
    if policy is not None and isinstance(policy.verifier, JudgeVerifier):
        return {policy.verifier.tier}
    return set()


def check_escalation(
    nodes: Sequence[NodeSpecBase],
    ladder: Sequence[str],
    tiers: Collection[str] | None,
    document: LocatedDocument,
) -> list[str]:
    """Problems with the nodes' `escalate` policies, each naming its YAML path and choices.

    Args:
        nodes: The flow's node specs.
        ladder: The project's ladder (may be empty).
        tiers: The bound tiers, when known.
        document: Where the flow came from, to name lines.
    """
    problems: list[str] = []
    choices = [*(sorted(tiers) if tiers is not None else []), HUMAN]
    for index, node in enumerate(nodes):
        policy = node.escalation()
        if policy is None:
            continue
        base: tuple[str | int, ...] = ("nodes", index, "escalate")
        if policy.to is not None:
            own = node.first_rung()
            problems.extend(_check_to(policy.to, own, tiers, choices, (*base, "to"), document))
        elif not ladder:
            problems.append(
                f"{document.where(base)}: the node escalates, but stepladder.yaml has no "
                "`ladder`; add one (e.g. `ladder: [small, frontier, human]`) or give "
                "`escalate.to`."
            )
        elif (first := node.first_rung()) not in ladder and first != EMBEDDINGS:
            problems.append(
                f"{document.where(('nodes', index, 'tier'))}: tier '{first}' is not on the "
                f"ladder ({', '.join(ladder)}); add it to `ladder:` in stepladder.yaml, or "
                "give `escalate.to`."
            )
        if isinstance(policy.min_confidence, dict):
            rungs = node_ladder(node, ladder)
            for rung in policy.min_confidence:
                if rung not in rungs:
                    where = document.where((*base, "min_confidence", rung))
                    problems.append(
                        f"{where}: '{rung}' is not a rung of this node; its rungs: "
                        f"{valid_choices([r for r in rungs if r != HUMAN])}."
                    )
        judge = policy.verifier if isinstance(policy.verifier, JudgeVerifier) else None
        if judge is not None and tiers is not None and judge.tier not in tiers:
            where = document.where((*base, "verifier", "tier"))
            problems.append(f"{where}: {_unknown(judge.tier, sorted(tiers))}")
    return problems


def _check_to(
    rungs: Sequence[str],
    own: str | None,
    tiers: Collection[str] | None,
    choices: list[str],
    path: tuple[str | int, ...],
    document: LocatedDocument,
) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for position, rung in enumerate(rungs):
        where = document.where((*path, position))
        if rung in seen:
            problems.append(f"{where}: '{rung}' is listed twice; each rung appears once.")
        elif rung == HUMAN and position != len(rungs) - 1:
            problems.append(f"{where}: '{HUMAN}' is the last rung; move it to the end.")
        elif rung not in (HUMAN, own) and tiers is not None and rung not in tiers:
            problems.append(f"{where}: {_unknown(rung, choices)}")
        seen.add(rung)
    return problems


def _unknown(name: str, choices: Sequence[str]) -> str:
    guess = near_miss(name, choices)
    hint = f"; did you mean '{guess}'?" if guess else "."
    return (
        f"unknown tier '{name}'{hint} Valid: {valid_choices(choices)}. Bind tiers under "
        "`tiers:` in stepladder.yaml."
    )
