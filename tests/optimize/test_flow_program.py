"""A flow as a DSPy program: DSPy optimizers tune all its LLM nodes (DummyLM wiring)."""

from typing import Any

import dspy
import pytest
from dspy.utils.dummies import DummyLM

from stepladder import compile_flow, flow_from_dict
from stepladder.errors import BudgetExhausted
from stepladder.flows import Flow
from stepladder.optimize.flow_program import (
    ERROR_KEY,
    FlowProgram,
    FlowRunner,
    Spend,
)
from stepladder.prompts import constrained_adapter
from stepladder.runtimes import ModelPool

STATE = {
    "message": {"type": "str", "input": True},
    "category": {"type": "enum", "values": ["ORDER", "REFUND"]},
    "order_id": "optional[str]",
}
NODES = [
    {"id": "classify", "kind": "classify", "reads": ["message"], "output": "category",
     "labels": ["ORDER", "REFUND"], "instructions": "Classify the message."},
    {"id": "extract", "kind": "extract", "reads": ["message"], "retries": 0,
     "instructions": "Find the order number.", "fields": {"order_id": "str"}},
]  # fmt: skip
ANSWERS = {
    "fields `category`": {"category": "REFUND"},
    "fields `order_id`": {"order_id": "5512345"},
}


def two_node_flow() -> Flow:
    spec = flow_from_dict({"name": "support", "state": STATE, "nodes": NODES})
    return compile_flow(spec, tiers={"small"})


def models(answers: dict[str, Any] | None = None) -> tuple[ModelPool, DummyLM]:
    lm = DummyLM(answers or ANSWERS, adapter=constrained_adapter())
    return ModelPool({}, lms={"small": lm}), lm


def refunds(count: int) -> list[dspy.Example]:
    return [
        dspy.Example(message=f"refund order 55{i}", category="REFUND").with_inputs("message")
        for i in range(count)
    ]


def same_category(example: dspy.Example, prediction: Any, trace: Any = None) -> bool:
    return bool(prediction.category == example.category)


def test_the_predictors_are_the_llm_nodes_and_forward_runs_the_graph() -> None:
    pool, _ = models()
    with FlowRunner(pool) as runner:
        program = FlowProgram(two_node_flow(), runner)
        prediction = program(message="refund order 5512345")
    assert [name for name, _ in program.named_predictors()] == ["classify", "extract"]
    assert prediction.category == "REFUND"
    assert prediction.order_id == "5512345"
    assert runner.spend.runs == 1 and runner.spend.calls == 2


def test_bootstrap_few_shot_collects_demonstrations_for_both_nodes() -> None:
    flow = two_node_flow()
    pool, lm = models()
    optimizer = dspy.BootstrapFewShot(
        metric=same_category, max_bootstrapped_demos=2, max_labeled_demos=0
    )
    with FlowRunner(pool) as runner:
        compiled = optimizer.compile(FlowProgram(flow, runner), trainset=refunds(4))
        demos = {name: predictor.demos for name, predictor in compiled.named_predictors()}
        assert len(demos["classify"]) == 2
        assert len(demos["extract"]) == 2
        assert demos["classify"][0]["category"] == "REFUND"
        assert demos["extract"][0]["order_id"] == "5512345"
        assert demos["extract"][0]["message"] == "refund order 550"
        compiled(message="refund order 77")
    # The compiled copy ran with its own demos; the flow's own programs are untouched.
    last_prompt = str(lm.history[-1]["messages"])
    assert "refund order 551" in last_prompt
    assert flow.programs["classify"].demos == []
    assert flow.programs["extract"].demos == []


def test_a_failed_run_scores_as_an_error_instead_of_raising() -> None:
    pool, _ = models({"fields `category`": {"category": "SHIPPING"}})
    with FlowRunner(pool) as runner:
        prediction = FlowProgram(two_node_flow(), runner)(message="where is it")
    assert "invalid after" in prediction[ERROR_KEY]
    assert runner.spend.calls == 3  # the first call and its two retries


def test_the_budget_stops_before_a_run_that_could_pass_it() -> None:
    pool, _ = models()
    with FlowRunner(pool, spend=Spend(max_calls=5)) as runner:
        program = FlowProgram(two_node_flow(), runner)
        program(message="refund 1")
        program(message="refund 2")
        with pytest.raises(BudgetExhausted, match=r"call budget \(5\).*4 model calls in 2"):
            program(message="refund 3")
    assert runner.spend.calls == 4


def test_only_the_chosen_nodes_are_tuned() -> None:
    pool, _ = models()
    with FlowRunner(pool) as runner:
        program = FlowProgram(two_node_flow(), runner, node_ids=["extract"])
    assert [name for name, _ in program.named_predictors()] == ["extract"]
