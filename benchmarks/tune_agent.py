"""The agent part of `benchmarks/tune.py`: the example's order agent, tuned on worked tasks.

The node is `examples/flows/order_support.yaml`'s agent (its tools, instructions and demos),
alone and without escalation, as `benchmarks/agent_tasks.py` measures it. Its eval set:

- `test`: the questions `agent_tasks.py` asks (seeded, never a demo's number), each with the
  fact its answer must hold (`answer`, metric `contains`) and the call that finds it
  (`steps`, metric `tool_calls`);
- `train` and `dev`: generated worked tasks (`agent_tasks.worked_tasks`) on other order and
  customer numbers and other refund questions, each with its gold steps (the tool, its
  arguments and what the real tool returns on the example's database) and a gold answer.

A task succeeds as in `agent_tasks.py`: the right call, and the fact in the answer as a whole
word.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from agent_tasks import (
    AGENT,
    EXAMPLES,
    KINDS,
    Task,
    build_db,
    demo_numbers,
    has_fact,
    make_tasks,
    task_numbers,
    worked_tasks,
)

from stepladder import Flow
from stepladder.config import load_project
from stepladder.evalsets.results import CaseResult, EvalRunRecord
from stepladder.flows import compile_project_flow, load_flow
from stepladder.flows.run import list_mcp_tools
from stepladder.tools import run_tool
from stepladder.tools.mcp import CURRENT_CLIENTS, McpClients

__all__ = [
    "AGENT_METRICS",
    "agent_flow_spec",
    "agent_mcp_servers",
    "agent_scores",
    "write_agent_cases",
]

AGENT_METRICS = {"answer": "contains", "steps": "tool_calls"}
MAX_TOKENS = 256
SOURCE_FLOW = EXAMPLES / "flows" / "order_support.yaml"
TOOLS_MODULE = EXAMPLES / "flows" / "order_tools.py"
SHOP_SERVER = EXAMPLES / "mcp" / "shop_server.py"


def agent_flow_spec() -> dict[str, Any]:
    """The example's agent node alone, with its tools, on the small tier, no escalation."""
    source = yaml.safe_load(SOURCE_FLOW.read_text(encoding="utf-8"))
    node = next(n for n in source["nodes"] if n["id"] == AGENT)
    node = {key: value for key, value in node.items() if key != "escalate"}
    node["max_tokens"] = MAX_TOKENS  # the example's tier allows 256; the benchmark's tier 96
    keys = ["message", node["output"], node["trajectory"], node["outcome"]]
    return {"name": "agent", "state": {k: source["state"][k] for k in keys},
            "tools": source["tools"], "nodes": [node]}  # fmt: skip


def agent_mcp_servers(root: Path) -> dict[str, Any]:
    """The project's `mcp_servers`: the example shop's server, on the project's database."""
    db = root / ".stepladder" / "orders.sqlite"  # where `write_agent_cases` builds it
    return {"shop": {"command": ["python", str(SHOP_SERVER)], "env": {"ORDERS_DB": str(db)}}}


def write_agent_cases(
    root: Path, train: int, dev: int, test: int, seed: int, kinds: Sequence[str] = KINDS
) -> dict[str, int]:
    """The agent's tools module, database and eval cases in the project at `root`.

    The worked tasks' kinds come in turn from `kinds` (the test's mix by default).

    Sets `ORDERS_DB` to the project's database (the tools read it). Returns the counts.
    """
    (root / "flows" / "order_tools.py").write_text(TOOLS_MODULE.read_text("utf-8"), "utf-8")
    db = build_db(_folder(root / ".stepladder"))
    os.environ["ORDERS_DB"] = str(db)
    avoid = demo_numbers(load_flow(SOURCE_FLOW))
    tested = make_tasks(db, test, seed, avoid)
    worked = worked_tasks(db, train + dev, seed, avoid | task_numbers(tested), kinds)
    flow = compile_project_flow(load_project(root=root), "agent")
    gold = asyncio.run(_gold_steps(flow, [item.task for item in worked]))
    lines = [_test_case(index, task) for index, task in enumerate(tested)]
    for index, (item, step) in enumerate(zip(worked, gold, strict=True)):
        steps = [step]
        split = "train" if index < train else "dev"
        lines.append({"id": f"agent-{split}-{index:03d}", "inputs": {"message": item.task.question},
                      "expected": {"answer": item.answer, "steps": steps}, "split": split,
                      "meta": {"kind": item.task.kind, "fact": item.task.expected}})  # fmt: skip
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    (root / "evalsets" / "agent.jsonl").write_text(text, encoding="utf-8")
    return {"train": train, "dev": dev, "test": len(tested)}


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _test_case(index: int, task: Task) -> dict[str, Any]:
    call = {"tool": task.tool, "arguments": task.arguments}
    return {"id": f"agent-test-{index:03d}", "inputs": {"message": task.question},
            "expected": {"answer": task.expected, "steps": [call]}, "split": "test",
            "meta": {"kind": task.kind}}  # fmt: skip


async def _gold_steps(flow: Flow, tasks: Sequence[Task]) -> list[dict[str, Any]]:
    """The tasks' gold steps, the agent's MCP tools (`refund_policy`) called on one session."""
    mcp = McpClients(flow.project_root)
    token = CURRENT_CLIENTS.set(mcp)  # where an MCP tool finds its session, as in a run
    try:
        await list_mcp_tools(flow, mcp)
        registry = flow.agents[AGENT].registry
        return [await _gold_step(registry, task) for task in tasks]
    finally:
        CURRENT_CLIENTS.reset(token)
        await mcp.aclose()


async def _gold_step(registry: Any, task: Task) -> dict[str, Any]:
    """The task's call, with what the real tool returns (exactly as a run observes it)."""
    result = await run_tool(registry.get(task.tool), task.arguments)
    if not result.ok:
        raise SystemExit(
            f"the gold call {task.tool}({task.arguments}) failed: {result.observation}"
        )
    return {"tool": task.tool, "arguments": task.arguments, "observation": result.observation}


def succeeded(result: CaseResult) -> bool:
    """The right call was made and the answer holds the fact (as `agent_tasks.py` counts)."""
    if not result.ok:
        return False
    call = result.expected["steps"][0]
    steps = result.outputs.get("steps") or []
    right = any(s.get("tool") == call["tool"] and s.get("arguments") == call["arguments"]
                for s in steps)  # fmt: skip
    return right and has_fact(str(result.outputs.get("answer") or ""), result.expected["answer"])


def agent_scores(run: EvalRunRecord) -> dict[str, float | None]:
    """Task success, the right call, valid tool calls and invalid model output, as shares."""
    results = run.results
    steps = [s for r in results for s in (r.outputs.get("steps") or [])]
    valid = [s.get("status") != "invalid_arguments" for s in steps]

    def share(hits: Sequence[bool]) -> float | None:
        return round(sum(hits) / len(hits), 4) if hits else None

    return {
        "success": share([succeeded(r) for r in results]),
        "right_call": share([r.ok and r.scores["steps"].value == 1.0 for r in results]),
        "valid_tool_calls": share(valid),
        "invalid": share([not r.ok for r in results]),
    }
