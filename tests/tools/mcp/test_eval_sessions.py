"""An eval over an agent with an MCP server starts the server once and stops it at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepladder.errors import ToolServerError
from stepladder.testing import arun_eval
from tests.conftest import write_project
from tests.escalation.helpers import dummy, pool
from tests.tools.mcp.helpers import SHOP, gone

SETTINGS = """
name: evals
tiers:
  small: {{runtime: openai-compatible, base_url: "http://127.0.0.1:9/v1", model: m}}
mcp_servers:
  shop:
    command: {command}
    env: {{STARTS_FILE: {starts}}}
"""

FLOW = """
name: ask
state:
  question: {type: str, input: true}
  answer: str
nodes:
  - id: support
    kind: agent
    instructions: Answer the customer's question.
    reads: [question]
    output: answer
    retries: 0
    tools: [{mcp: shop, include: [pid]}]
"""

SPEC = """
name: ask
flow: ask
cases: ask.jsonl
concurrency: 1
metrics:
  answer: exact
"""

CASES = 4


def eval_project(root: Path, command: list[str]) -> tuple[Path, Path]:
    """A project whose eval has `CASES` cases over the agent; its spec and starts file."""
    starts = root / "starts.txt"
    settings = SETTINGS.format(command=json.dumps(command), starts=json.dumps(str(starts)))
    cases = [
        {"id": f"c{i}", "inputs": {"question": f"question {i}"}, "expected": {"answer": "done"}}
        for i in range(CASES)
    ]
    files = {
        "flows/ask.yaml": FLOW,
        "evalsets/ask.yaml": SPEC,
        "evalsets/ask.jsonl": "".join(json.dumps(case) + "\n" for case in cases),
    }
    write_project(root / "proj", files, settings)
    return root / "proj" / "evalsets" / "ask.yaml", starts


async def test_the_cases_of_an_eval_share_one_session_with_the_server(tmp_path: Path) -> None:
    spec, starts = eval_project(tmp_path, ["python", str(SHOP)])
    answers: list[dict[str, Any]] = [{"tool": "pid"}, {"tool": "finish"}, {"answer": "done"}]
    lm = dummy(*answers * CASES)
    result = await arun_eval(spec, models=pool(small=lm))
    assert result.summary.failed == 0
    assert result.metric("answer").mean == 1.0
    assert len(result.record.results) == CASES
    (started,) = [int(line) for line in starts.read_text().split()]  # once, for every case
    assert gone(started)


async def test_a_server_that_cannot_start_fails_the_eval_before_any_case(tmp_path: Path) -> None:
    spec, starts = eval_project(tmp_path, ["stepladder-no-such-server"])
    with pytest.raises(ToolServerError, match="command 'stepladder-no-such-server' was not found"):
        await arun_eval(spec, models=pool(small=dummy()))
    assert not starts.exists()
