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
ladder; a node whose tier is not on the project's ladder must give `to`
(`stepladder.nodes.llm.ladder`). On a trigger the node runs again on the next rung; a tier
whose API key is not set is skipped (and the skip traced).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stepladder.specs.references import REFERENCE_PATTERN

__all__ = [
    "EMBEDDINGS",
    "HUMAN",
    "ROUTER",
    "TRIGGERS",
    "EscalationPolicy",
    "JudgeVerifier",
    "Trigger",
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
    return re.fullmatch(REFERENCE_PATTERN, text) is not None
