"""The metric contract: what every metric kind implements, and what scoring a case may use.

The metric kinds (`stepladder.evalsets.reference_metrics`, `stepladder.evalsets.judge`,
`stepladder.evalsets.metrics`) import it; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.results import MetricScore
from stepladder.runtimes.pool import ModelPool
from stepladder.runtimes.usage import UsageLedger
from stepladder.tracing import Tracing

__all__ = ["Metric", "MetricContext"]


@dataclass(frozen=True)
class MetricContext:
    """What scoring a case may use: the model tiers (for judges), the ledger, the tracer."""

    models: ModelPool | None
    usage: UsageLedger
    tracing: Tracing | None = None


class Metric(Protocol):
    """Scores one state key of a run against the case's expected value."""

    @property
    def name(self) -> str:
        """The metric's name (its key in the eval spec)."""
        ...

    @property
    def field(self) -> str:
        """The state key scored."""
        ...

    @property
    def binary(self) -> bool:
        """Whether every score is 0 or 1."""
        ...

    async def score(
        self, output: Any, expected: Any, case: EvalCase, context: MetricContext
    ) -> MetricScore:
        """Score `output` (the run's value of `field`) against `expected`."""
        ...
