"""The teachers of `dspy.BootstrapFinetune` on a flow: a higher tier, or the eval's gold labels.

`TeacherProgram` is a `FlowProgram` whose traces keep only its tuned nodes' calls (the flow's
other LLM nodes run too, but are not what the adapter learns). With `gold` cases it is the
labelled-only teacher: each tuned node's predictor is a `GoldPredict`, which answers with the
running case's expected values instead of calling a model, so the trace holds the node's real
run-time inputs (what upstream nodes wrote) and the gold answer.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping, Sequence
from typing import Any

import dspy

from stepladder.errors import UserError
from stepladder.evalsets.cases import EvalCase
from stepladder.flows import Flow
from stepladder.optimize.finetune.examples import input_hash
from stepladder.optimize.finetune.render import NodeRenderer, RenderProblem
from stepladder.optimize.flow_program import FlowProgram, FlowRunner

__all__ = ["GoldPredict", "TeacherProgram", "gold_fields_missing"]

_GOLD: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "stepladder_gold", default=None
)
PRIVILEGED = ("config", "lm", "demos", "signature")


class GoldPredict(dspy.Predict):  # type: ignore[misc]
    """A node's predictor that answers with the running case's gold values (no model call).

    Args:
        renderer: The node's renderer (its signature, demos and output schema).
    """

    def __init__(self, renderer: NodeRenderer) -> None:
        super().__init__(renderer.signature)
        self.demos = list(renderer.demos)
        self._renderer = renderer

    def forward(self, **kwargs: Any) -> dspy.Prediction:
        """The gold answer for these inputs, recorded on DSPy's trace like a model's."""
        return self._answer(kwargs)

    async def aforward(self, **kwargs: Any) -> dspy.Prediction:
        """As `forward` (nothing to wait for)."""
        return self._answer(kwargs)

    def _answer(self, kwargs: dict[str, Any]) -> dspy.Prediction:
        """The gold answer, traced.

        Raises:
            RenderProblem: When the case has no valid gold value for an output field (the
                run fails and is not trained on).
        """
        gold = _GOLD.get() or {}
        for key in PRIVILEGED:
            kwargs.pop(key, None)
        values = self._renderer.gold_values(
            {name: gold[name] for name in self._renderer.output_fields if name in gold}
        )
        prediction = dspy.Prediction(**values)
        trace = dspy.settings.trace
        if trace is not None:
            trace.append((self, dict(kwargs), prediction))
        return prediction


class TeacherProgram(FlowProgram):
    """A flow as a teacher: its runs' traces hold only the tuned nodes' calls.

    Args:
        flow: The compiled flow (on the teacher's tier, or the student's for gold labels).
        runner: Runs the flow.
        node_ids: The tuned nodes.
        gold: The train cases, when the gold labels teach (their expected values answer).
    """

    def __init__(
        self,
        flow: Flow,
        runner: FlowRunner,
        node_ids: Sequence[str],
        gold: Sequence[EvalCase] | None = None,
    ) -> None:
        super().__init__(flow, runner, node_ids)
        self._gold = {input_hash(case.inputs): case.expected for case in gold or ()}
        if gold is not None:
            for node_id in self.node_ids:
                setattr(self, node_id, GoldPredict(NodeRenderer.for_node(flow, node_id)))

    def forward(self, **inputs: Any) -> dspy.Prediction:
        """Run the flow (answering with the case's gold values, if so); keep own calls traced."""
        token = _GOLD.set(self._gold.get(input_hash(inputs))) if self._gold else None
        try:
            prediction = super().forward(**inputs)
        finally:
            if token is not None:
                _GOLD.reset(token)
        trace = dspy.settings.trace
        if trace is not None:
            own = {id(predictor) for _, predictor in self.named_predictors()}
            trace[:] = [entry for entry in trace if id(entry[0]) in own]
        return prediction


def gold_fields_missing(flow: Flow, node_ids: Sequence[str], cases: Sequence[EvalCase]) -> None:
    """Refuse the gold labels as teacher when a node's outputs are not the eval's fields.

    Raises:
        UserError: Naming the node, its output fields and the eval's expected fields.
    """
    expected = {key for case in cases for key in case.expected}
    for node_id in node_ids:
        try:
            renderer = NodeRenderer.for_node(flow, node_id)
        except RenderProblem as problem:
            raise UserError(f"node '{node_id}': {problem}") from None
        missing = [name for name in renderer.output_fields if name not in expected]
        if missing:
            raise UserError(
                f"node '{node_id}' answers {', '.join(renderer.output_fields)}, but the eval's "
                f"cases expect no {', '.join(missing)}, so the gold labels cannot teach it: "
                "name a stronger tier with --teacher, or tune only nodes whose outputs the "
                "eval expects (--node)."
            )
