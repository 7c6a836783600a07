"""The `judge` metric: an LLM on a tier says whether an answer meets a rubric, and why.

The judge is a DSPy program called with the constrained-JSON adapter (the server enforces the
verdict's schema). Each call's tokens, time and cost go to the scoring context's ledger as
node `judge:NAME`. An invalid verdict is asked again once, then scores 0.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from stepladder.errors import ModelError
from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.metric_base import MetricContext
from stepladder.evalsets.results import MetricScore
from stepladder.nodes.llm.verdicts import ask_verdict
from stepladder.prompts import SignatureField, build_signature

if TYPE_CHECKING:
    import dspy

__all__ = ["NO_VERDICT", "JudgeMetric", "judge_signature"]

NO_VERDICT = "judge gave no valid verdict"
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
        expected_null: `skip`: a case expecting null is not judged (see `scores_case`).
    """

    name: str
    field: str
    tier: str
    rubric: str
    attempts: int = 2
    expected_null: str = dataclass_field(default="match", kw_only=True)

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
            verdict = await ask_verdict(
                judge_signature(), inputs, bound=bound, ledger=context.usage,
                tracing=context.tracing, flow="eval", node_id=self.node_id, node_kind="judge",
                who=f"metric '{self.name}'", attempt=attempt,
            )  # fmt: skip
            if verdict is not None:
                passed, reason = verdict
                return MetricScore(value=1.0 if passed else 0.0, binary=True, detail=reason)
        return MetricScore(value=0.0, binary=True, detail=NO_VERDICT)


def _as_text(value: Any) -> str:
    """Strings as they are; anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)
