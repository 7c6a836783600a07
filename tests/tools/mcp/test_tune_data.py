"""`stepladder tune` on an agent with MCP tools: listed first, then every call renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config import load_project
from stepladder.evalsets.spec import load_eval_spec
from stepladder.flows import compile_project_flow
from stepladder.flows.run import list_mcp_tools
from stepladder.optimize.finetune.data import DataOptions, build_training_data
from tests.conftest import write_project
from tests.tools.mcp.helpers import SHOP, gone

SETTINGS = """
name: tuned
tiers:
  small: {{runtime: llamacpp, threads: 2, max_tokens: 32}}
mcp_servers:
  shop:
    command: [python, {shop}]
    env: {{STARTS_FILE: {starts}}}
"""

FLOW = """
name: ask
state:
  question: {type: str, input: true}
  answer: optional[str]
  steps: optional[list]
nodes:
  - id: agent
    kind: agent
    tier: small
    reads: [question]
    instructions: Answer the customer's question about their order.
    output: answer
    trajectory: steps
    retries: 0
    tools: [{mcp: shop, include: [order_status]}]
"""

SPEC = """
name: ask
flow: ask
cases: ask.jsonl
splits: [train, dev, test]
metrics: {answer: contains}
"""

STATUS = {"42": "shipped", "7": "processing"}
TRAIN = 6


def worked(index: int, split: str) -> dict[str, Any]:
    """A worked task: the status of order 42 or 7, as the shop server answers it."""
    order = "42" if index % 2 == 0 else "7"
    steps = [{"tool": "order_status", "arguments": {"order_id": order},
              "observation": STATUS[order]}]  # fmt: skip
    answer = f"Order {order} is {STATUS[order]}."
    return {"id": f"t{index}", "inputs": {"question": f"Question {index}: where is order {order}?"},
            "expected": {"answer": answer, "steps": steps}, "split": split}  # fmt: skip


def tune_project(root: Path) -> tuple[Path, Path]:
    """The project (its agent's only tool is the shop server's) and the server's starts file."""
    starts = root / "starts.txt"
    splits = ["train"] * TRAIN + ["dev"] * 2 + ["test"] * 2
    cases = "".join(json.dumps(worked(i, split)) + "\n" for i, split in enumerate(splits))
    files = {"flows/ask.yaml": FLOW, "evalsets/ask.yaml": SPEC, "evalsets/ask.jsonl": cases}
    settings = SETTINGS.format(shop=json.dumps(str(SHOP)), starts=json.dumps(str(starts)))
    return write_project(root / "proj", files, settings), starts


def test_tune_lists_the_mcp_tools_then_renders_every_call_and_stops_the_server(
    tmp_path: Path,
) -> None:
    project, starts = tune_project(tmp_path)
    result = CliRunner().invoke(
        app, ["tune", str(project / "evalsets/ask.yaml"), "--name", "ask-agent",
              "--node", "agent", "--min-examples", "1000"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    # each worked task: pick the tool, its arguments, pick `finish`, the answer
    assert f"node 'agent' has {TRAIN * 4} training example(s)" in result.output
    (started,) = [int(line) for line in starts.read_text().split()]
    assert gone(started)


async def test_an_agents_mcp_tool_is_taught_with_the_servers_schema(tmp_path: Path) -> None:
    project, starts = tune_project(tmp_path)
    flow = compile_project_flow(load_project(root=project), "ask")
    await list_mcp_tools(flow)
    (started,) = [int(line) for line in starts.read_text().split()]
    assert gone(started)  # listed, then stopped: the definitions stay
    data = build_training_data(
        flow, load_eval_spec(project / "evalsets/ask.yaml"), ("agent",),
        options=DataOptions(min_examples=1),
    )  # fmt: skip
    arguments = [e for e in data.train if '"order_id": "42"' in e.completion]
    assert len(arguments) == TRAIN // 2
    assert all("order_id" in e.messages[0]["content"] for e in arguments)
