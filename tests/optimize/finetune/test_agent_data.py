"""An agent node's training examples: every call of a worked task, as the agent sends it.

A case that labels the agent's answer and its trajectory (each step's tool, arguments and
what the tool returned) teaches the choice of each tool, each tool's arguments, the choice
to finish and the answer. The key property, as for the other nodes: the examples are the
messages the agent sends when it takes those steps (a scripted LM behind the flow records
them), and the completions read back as the gold values.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from dspy.utils.dummies import DummyLM

from stepladder.config import load_project
from stepladder.errors import UserError
from stepladder.evalsets.spec import load_eval_spec
from stepladder.flows import Flow, compile_project_flow, run_flow
from stepladder.optimize.finetune.data import DataOptions, TrainingData, build_training_data
from stepladder.optimize.finetune.render import NodeRenderer
from stepladder.prompts import constrained_adapter
from stepladder.runtimes import ModelPool
from tests.conftest import write_project

SETTINGS = """name: shop
tiers:
  small: {runtime: openai-compatible, base_url: "http://127.0.0.1:9/v1", model: m}
"""
TOOLS = '''"""The shop's tools."""

STATUS = {1: "shipped", 2: "processing", 3: "delivered"}


def order_status(order_id: int) -> dict:
    """Look up an order's status.

    Args:
        order_id: The order number.
    """
    return {"order_id": order_id, "status": STATUS.get(order_id % 4, "cancelled")}


def policy() -> str:
    """Read the refund policy."""
    return "Refunds within 30 days."
'''
FLOW = """
name: shop
state:
  message: {type: str, input: true}
  answer: optional[str]
  steps: optional[list]
nodes:
  - id: agent
    kind: agent
    reads: [message]
    instructions: Answer the customer.
    tools: [flows.shop_tools:order_status, flows.shop_tools:policy]
    output: answer
    trajectory: steps
    max_steps: 2
    retries: 0
    demos:
      - message: Where is order 5?
        steps:
          - tool: order_status
            arguments: {order_id: 5}
            observation: '{"order_id": 5, "status": "shipped"}'
        answer: Order 5 is shipped.
"""
EVAL = """name: shop
flow: shop
cases: shop.jsonl
splits: [train, dev, test]
metrics: {answer: contains}
"""


def worked(index: int, split: str) -> dict[str, Any]:
    """A worked task: a status question (its lookup) or, every third, the policy."""
    if index % 3 == 2:
        steps = [{"tool": "policy", "arguments": {}, "observation": "Refunds within 30 days."}]
        message, answer = f"Refund rules, question {index}?", "Within 30 days."
    else:
        order = 100 + index
        status = {1: "shipped", 2: "processing", 3: "delivered"}.get(order % 4, "cancelled")
        seen = json.dumps({"order_id": order, "status": status})
        steps = [{"tool": "order_status", "arguments": {"order_id": order}, "observation": seen}]
        message, answer = f"Where is order {order}?", f"Order {order} is {status}."
    return {"id": f"t{index}", "inputs": {"message": message},
            "expected": {"answer": answer, "steps": steps}, "split": split}  # fmt: skip


def tasks(train: int = 12, dev: int = 3, test: int = 3) -> list[dict[str, Any]]:
    splits = ["train"] * train + ["dev"] * dev + ["test"] * test
    return [worked(index, split) for index, split in enumerate(splits)]


def make_shop(root: Path, rows: list[dict[str, Any]] | None = None, flow: str = FLOW) -> Path:
    lines = "".join(json.dumps(row) + "\n" for row in (rows if rows is not None else tasks()))
    files = {"flows/shop.yaml": flow, "flows/shop_tools.py": TOOLS, "evalsets/shop.yaml": EVAL,
             "evalsets/shop.jsonl": lines}  # fmt: skip
    return write_project(root, files, SETTINGS)


def shop_flow(root: Path) -> Flow:
    return compile_project_flow(load_project(root=root), "shop")


def build(root: Path, **options: Any) -> TrainingData:
    options.setdefault("min_examples", 4)
    return build_training_data(
        shop_flow(root), load_eval_spec(root / "evalsets/shop.yaml"), ("agent",),
        options=DataOptions(**options),
    )  # fmt: skip


def scripted(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The model answers of the row's worked task, in the order the agent asks for them."""
    answers: list[dict[str, Any]] = []
    for step in row["expected"]["steps"]:
        answers.append({"tool": step["tool"]})
        if step["arguments"]:
            answers.append({"arguments": step["arguments"]})
    return [*answers, {"tool": "finish"}, {"answer": row["expected"]["answer"]}]


def test_each_call_of_a_worked_task_is_an_example_sent_as_at_run_time(tmp_path: Path) -> None:
    root = make_shop(tmp_path / "shop")
    flow = shop_flow(root)
    data = build(root)
    loop = flow.agents["agent"]
    by_case: dict[str, list[Any]] = {}
    for example in data.train + data.validation:
        by_case.setdefault(example.source.split("#")[1], []).append(example)
    assert len(data.train) == 8 * 4 + 4 * 3  # lookups: 4 calls each; the policy: no arguments
    for row in tasks()[:6]:
        lm = DummyLM(scripted(row), adapter=constrained_adapter())
        models = ModelPool({}, lms={"small": lm})
        result = asyncio.run(run_flow(flow, row["inputs"], models=models))
        assert result.state["answer"] == row["expected"]["answer"]
        recorded = [{k: v for k, v in step.items() if k not in ("step", "status")}
                    for step in result.state["steps"]]  # fmt: skip
        assert recorded == row["expected"]["steps"]  # the gold observations are the tools'
        examples = by_case[row["id"]]
        assert [[dict(m) for m in e.messages] for e in examples] == [
            entry["messages"] for entry in lm.history
        ]
        calls = [loop.calls.choose]
        if row["expected"]["steps"][0]["arguments"]:
            calls.append(loop.calls.arguments["order_status"])
        calls += [loop.calls.choose, loop.calls.finish]
        golds = scripted(row)
        for example, call, gold in zip(examples, calls, golds, strict=True):
            assert NodeRenderer.of_call("agent", call).parse(example.completion) == gold
    demo_turns = examples[0].messages[1:-1]
    assert "Where is order 5?" in demo_turns[0]["content"]  # the node's demos are in the prompt


def test_a_run_trajectory_trains_and_a_failed_or_wrong_step_is_named(tmp_path: Path) -> None:
    rows = tasks()
    recorded = dict(rows[0]["expected"]["steps"][0])
    rows[0]["expected"]["steps"] = [{**recorded, "step": 1, "status": "ok"}]
    assert len(build(make_shop(tmp_path / "ok", rows)).train) == 44
    rows[1]["expected"]["steps"] = [{**rows[1]["expected"]["steps"][0], "status": "error"}]
    rows[3]["expected"]["steps"] = [{"tool": "refund", "observation": "x"}]
    rows[4]["expected"]["steps"][0]["arguments"] = {"order_id": "many"}
    with pytest.raises(UserError) as raised:
        build(make_shop(tmp_path / "bad", rows))
    message = str(raised.value)
    assert "3 row(s) cannot train" in message
    assert "line 2 (case t1): node 'agent': step 1: its status is 'error'" in message
    assert "line 4 (case t3): node 'agent': step 1.tool: 'refund' is not one of" in message
    assert "line 5 (case t4): node 'agent': step 1.arguments: order_id: Input should" in message


def test_rows_without_steps_are_skipped_and_an_agent_without_trajectory_refused(
    tmp_path: Path,
) -> None:
    rows = tasks()
    for row in rows[:4]:
        del row["expected"]["steps"]
    data = build(make_shop(tmp_path / "some", rows))
    assert data.nodes["agent"].skipped == {"evalset: no gold value for 'steps'": 4}
    untraced = FLOW.replace("    trajectory: steps\n", "")
    with pytest.raises(UserError, match=r"agent without `trajectory:`"):
        build(make_shop(tmp_path / "untraced", flow=untraced))
