"""The `escalate:` policy of a node, and the ladder of rungs it climbs.

```yaml
# stepladder.yaml: the project's ladder, cheapest first; `human` is a reserved last step
ladder: [small, frontier, human]

# a node in a flow
- id: extract
  kind: extract
  tier: small
  escalate:
    triggers: [invalid, confidence, verifier]   # default: invalid + whatever is set below
    min_confidence: 0.8       # classify: label probability; extract/generate: agreement
    samples: 3                # ... of this many samples (extract/generate)
    verifier: checks:order_ok # module:function -> bool | (bool, reason)
    # verifier: {tier: frontier, criteria: the order id appears in the message}
    to: [frontier, human]     # this node's rungs above its tier (default: the ladder)
```

A node's ladder is `escalate.to` (after the node's tier, which goes first) or the project's
ladder; a node whose tier is not on the project's ladder must give `to`. On a trigger the node
runs again on the next rung; a tier whose API key is not set is skipped (and the skip traced).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stepladder.config.locations import LocatedDocument, near_miss, valid_choices
from stepladder.config.references import REFERENCE_PATTERN

__all__ = [
    "HUMAN",
    "TRIGGERS",
    "EscalationPolicy",
    "JudgeVerifier",
    "Trigger",
    "check_escalation",
    "node_ladder",
    "reaches_human",
    "verifier_tiers",
]

HUMAN = "human"
Trigger = Literal["invalid", "confidence", "verifier"]
TRIGGERS: tuple[str, ...] = ("invalid", "confidence", "verifier")
ROUTER = "router"
EMBEDDINGS = "embeddings"


class JudgeVerifier(BaseModel):
    """A model on a tier judges the node's output against criteria."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str = Field(description="The judge's model tier.")
    criteria: str = Field(min_length=1, description="What a good output is.")


class EscalationPolicy(BaseModel):
    """When a node re-runs on the next rung of its ladder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    triggers: list[Trigger] | None = Field(
        default=None,
        description="What escalates: invalid, confidence, verifier (default: invalid, plus "
        "confidence when min_confidence is set, plus verifier when verifier is set).",
    )
    min_confidence: float | dict[str, float] | None = Field(
        default=None,
        description="Escalate when the confidence is below this; or per rung, say "
        "`{embeddings: 0.5}` (rungs not named are not checked for confidence).",
    )
    samples: int = Field(
        default=1,
        ge=1,
        le=10,
        description="Samples drawn per rung; their agreement is the confidence of extract and "
        "generate nodes (and of classify when the tier gives no log-probabilities).",
    )
    verifier: str | JudgeVerifier | None = Field(
        default=None,
        description="'module:function' returning bool or (bool, reason), or {tier, criteria}.",
    )
    to: list[str] | None = Field(
        default=None,
        min_length=1,
        description="The rungs above the node's tier, in order (tier names or 'human'); "
        "default: the project's `ladder`.",
    )

    @field_validator("min_confidence")
    @classmethod
    def _in_range(cls, value: float | dict[str, float] | None) -> float | dict[str, float] | None:
        values = value.values() if isinstance(value, dict) else [] if value is None else [value]
        if any(not 0.0 < v <= 1.0 for v in values):
            raise ValueError("a confidence threshold is above 0 and at most 1")
        if isinstance(value, dict) and not value:
            raise ValueError("name at least one rung, or give one number for every rung")
        return value

    def threshold(self, rung: str) -> float | None:
        """The confidence below which an answer from `rung` escalates (None: not checked)."""
        if "confidence" not in self.active or self.min_confidence is None:
            return None
        if isinstance(self.min_confidence, dict):
            return self.min_confidence.get(rung)
        return self.min_confidence

    @model_validator(mode="after")
    def _consistent(self) -> EscalationPolicy:
        if isinstance(self.verifier, str) and not _is_reference(self.verifier):
            raise ValueError(
                f"verifier '{self.verifier}' is not a 'module:function' reference (or give "
                "{tier, criteria} for a judge)"
            )
        if self.triggers is None:
            return self
        if "confidence" in self.triggers and self.min_confidence is None:
            raise ValueError("the trigger 'confidence' needs `min_confidence`")
        if "verifier" in self.triggers and self.verifier is None:
            raise ValueError("the trigger 'verifier' needs `verifier`")
        if self.min_confidence is not None and "confidence" not in self.triggers:
            raise ValueError("`min_confidence` is set but 'confidence' is not in `triggers`")
        if self.verifier is not None and "verifier" not in self.triggers:
            raise ValueError("`verifier` is set but 'verifier' is not in `triggers`")
        return self

    @property
    def active(self) -> frozenset[str]:
        """The triggers in force."""
        if self.triggers is not None:
            return frozenset(self.triggers)
        found = {"invalid"}
        if self.min_confidence is not None:
            found.add("confidence")
        if self.verifier is not None:
            found.add("verifier")
        return frozenset(found)


def _is_reference(text: str) -> bool:
    import re

    return re.fullmatch(REFERENCE_PATTERN, text) is not None


def node_ladder(node: Any, ladder: Sequence[str]) -> tuple[str, ...]:
    """The rungs a node may run on, cheapest first; its own first rung is among them.

    With `escalate.to`: the node's tier, then those rungs. Otherwise the project's ladder
    when the node's tier is on it, else the node's tier alone. An embedding classifier's
    first rung is `embeddings` itself. Nodes without a tier have no rungs.
    """
    first = _first_rung(node)
    if first is None:
        return ()
    policy: EscalationPolicy | None = getattr(node, "escalate", None)
    if policy is not None and policy.to is not None:
        above = list(policy.to)
        if first in above:
            above = above[above.index(first) + 1 :]
        return (first, *above)
    if first == EMBEDDINGS:
        return (first, *ladder)
    return tuple(ladder) if first in ladder else (first,)


def _first_rung(node: Any) -> str | None:
    if getattr(node, "using", "llm") == "embeddings":
        return EMBEDDINGS if getattr(node, "escalate", None) is not None else None
    tier = getattr(node, "tier", None)
    return tier if isinstance(tier, str) else None


def reaches_human(node: Any, ladder: Sequence[str]) -> bool:
    """Whether the node can escalate to (or be routed to) a human reviewer."""
    if getattr(node, "escalate", None) is None and getattr(node, "tier_from", None) is None:
        return False
    return HUMAN in node_ladder(node, ladder)


def verifier_tiers(node: Any) -> set[str]:
    """The judge tiers a node's verifier uses (started with the run's tiers)."""
    policy: EscalationPolicy | None = getattr(node, "escalate", None)
    if policy is not None and isinstance(policy.verifier, JudgeVerifier):
        return {policy.verifier.tier}
    return set()


def check_escalation(
    nodes: Sequence[Any],
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
        policy: EscalationPolicy | None = getattr(node, "escalate", None)
        if policy is None:
            continue
        base: tuple[str | int, ...] = ("nodes", index, "escalate")
        if policy.to is not None:
            problems.extend(_check_to(policy.to, tiers, choices, (*base, "to"), document))
        elif not ladder:
            problems.append(
                f"{document.where(base)}: the node escalates, but stepladder.yaml has no "
                "`ladder`; add one (e.g. `ladder: [small, frontier, human]`) or give "
                "`escalate.to`."
            )
        elif _first_rung(node) not in ladder and getattr(node, "using", "llm") != "embeddings":
            problems.append(
                f"{document.where(('nodes', index, 'tier'))}: tier '{node.tier}' is not on the "
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
        elif rung != HUMAN and tiers is not None and rung not in tiers:
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
