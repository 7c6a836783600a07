"""The metric contract: what every metric kind implements, and what scoring a case may use.

The metric kinds (`stepladder.evalsets.reference_metrics`, `stepladder.evalsets.judge`,
`stepladder.evalsets.metrics`) import it; it imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.results import MetricScore
from stepladder.runtimes.pool import ModelPool
from stepladder.runtimes.usage import UsageLedger
from stepladder.tracing import Tracing

__all__ = ["Metric", "MetricContext", "scores_case"]


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


def scores_case(metric: Metric, expected: Mapping[str, Any]) -> bool:
    """Whether `metric` scores a case with these expected values.

    A case is scored when it has an expected value for the metric's field, unless that value
    is null and the metric's `expected_null` option is `skip`.
    """
    if metric.field not in expected:
        return False
    return expected[metric.field] is not None or getattr(metric, "expected_null", "") != "skip"
