"""The `judge` metric: an LLM on a tier says whether an answer meets a rubric, and why.

The judge is a DSPy program called with the constrained-JSON adapter (the server enforces the
verdict's schema). Each call's tokens, time and cost go to the scoring context's ledger as
node `judge:NAME`. An invalid verdict is asked again once, then scores 0.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span
from pydantic_core import to_jsonable_python

from stepladder.errors import ModelError
from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.results import MetricScore
from stepladder.nodes.model_calls import record_model_call
from stepladder.prompts import SignatureField, build_signature, constrained_adapter
from stepladder.runtimes.pool import BoundTier
from stepladder.tracing import attributes as names
from stepladder.tracing import model_span, set_error, set_preview

if TYPE_CHECKING:
    import dspy

    from stepladder.evalsets.metrics import MetricContext

__all__ = ["NO_VERDICT", "JudgeMetric", "judge_signature"]

NO_VERDICT = "judge gave no valid verdict"
RETRY_TEMPERATURE = 0.7
_INSTRUCTIONS = (
    "You grade the answer to a task. Read the task's inputs (question), the expected answer "
    "and the answer given, and decide whether the answer meets the rubric. Set `passed` to "
    "true or false, and say why in one sentence in `reason`."
)


@functools.cache
def judge_signature() -> type[dspy.Signature]:
    """The judge's DSPy signature: question, expected, answer, rubric -> passed, reason."""
    return build_signature(
        "judge",
        _INSTRUCTIONS,
        inputs=[
            SignatureField("question", str, "The task's inputs, as JSON."),
            SignatureField("expected", str, "The expected answer."),
            SignatureField("answer", str, "The answer to grade."),
            SignatureField("rubric", str, "What a good answer is."),
        ],
        outputs=[
            SignatureField("passed", bool, "Whether the answer meets the rubric."),
            SignatureField("reason", str, "Why, in one sentence."),
        ],
    )


@dataclass(frozen=True)
class JudgeMetric:
    """Scores 1 when the judge on `tier` passes the answer, else 0; the reason is the detail.

    Attributes:
        name: The metric's name.
        field: The state key judged.
        tier: The judge's model tier.
        rubric: What a good answer is.
        attempts: Calls made before giving up on an invalid verdict.
    """

    name: str
    field: str
    tier: str
    rubric: str
    attempts: int = 2

    @property
    def binary(self) -> bool:
        """A verdict is pass (1) or fail (0)."""
        return True

    @property
    def node_id(self) -> str:
        """How the judge's calls are named in the ledger and traces."""
        return f"judge:{self.name}"

    async def score(
        self, output: Any, expected: Any, case: EvalCase, context: MetricContext
    ) -> MetricScore:
        """Ask the judge; an invalid verdict is asked again, then scores 0.

        Raises:
            ModelError: If there are no model tiers, or the judge's model fails.
        """
        if context.models is None:
            raise ModelError(
                f"metric '{self.name}' needs the judge tier '{self.tier}', but scoring was "
                "given no ModelPool."
            )
        bound = await context.models.bound(self.tier)
        inputs = {
            "question": _as_text(case.inputs),
            "expected": "(none given)" if expected is None else _as_text(expected),
            "answer": _as_text(output),
            "rubric": self.rubric,
        }
        for attempt in range(1, self.attempts + 1):
            verdict = await self._ask(context, bound, inputs, attempt)
            if verdict is not None:
                return verdict
        return MetricScore(value=0.0, binary=True, detail=NO_VERDICT)

    async def _ask(
        self, context: MetricContext, bound: BoundTier, inputs: dict[str, str], attempt: int
    ) -> MetricScore | None:
        """One call: the verdict, or None when the answer is not a valid verdict."""
        import dspy

        program = dspy.Predict(judge_signature())
        config = {"temperature": RETRY_TEMPERATURE} if attempt > 1 else {}
        with self._span(context, bound, inputs, attempt) as span:
            started = time.perf_counter()
            try:
                with dspy.context(lm=bound.lm, adapter=constrained_adapter(), track_usage=True):
                    prediction = await program.acall(**inputs, config=config)
            except dspy.utils.exceptions.AdapterParseError as error:
                self._record(context, bound, started, None, attempt, span, ok=False)
                set_error(span, f"invalid verdict: {str(error.message).splitlines()[0]}")
                return None
            except dspy.utils.exceptions.LMError as error:
                raise ModelError(
                    f"metric '{self.name}': judge tier '{self.tier}' failed: "
                    f"{str(error).splitlines()[0]}"
                ) from error
            usage = prediction.get_lm_usage() if hasattr(prediction, "get_lm_usage") else None
            passed, reason = prediction.get("passed"), prediction.get("reason")
            ok = isinstance(passed, bool) and isinstance(reason, str) and bool(reason.strip())
            self._record(context, bound, started, usage, attempt, span, ok=ok)
            set_preview(context.tracing, span, names.OUTPUT, {"passed": passed, "reason": reason})
            if not ok:
                set_error(span, "invalid verdict: no pass/fail or an empty reason")
                return None
            return MetricScore(value=1.0 if passed else 0.0, binary=True, detail=reason.strip())

    def _span(
        self, context: MetricContext, bound: BoundTier, inputs: dict[str, str], attempt: int
    ) -> AbstractContextManager[Span]:
        return model_span(
            context.tracing,
            flow="eval",
            node_id=self.node_id,
            node_kind="judge",
            tier=self.tier,
            model=bound.endpoint.display_name or bound.endpoint.model,
            attempt=attempt,
            inputs=inputs,
        )

    def _record(
        self,
        context: MetricContext,
        bound: BoundTier,
        started: float,
        usage: Mapping[str, Any] | None,
        attempt: int,
        span: Span,
        *,
        ok: bool,
    ) -> None:
        """Put the call in the ledger (priced by the tier's pricer) and on its span."""
        record_model_call(
            context.usage, bound, node_id=self.node_id, started=started, usage=usage,
            attempt=attempt, ok=ok, span=span,
        )  # fmt: skip


def _as_text(value: Any) -> str:
    """Strings as they are; anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)
