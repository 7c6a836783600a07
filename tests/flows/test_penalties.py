"""A node's `frequency_penalty` / `presence_penalty`: sent with its calls only, and traced.

The request bodies are read by a loopback OpenAI-style server; one test runs the penalty on
the real embedded llama.cpp model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stepladder import FlowSpecError, flow_from_dict
from stepladder.config import load_project
from stepladder.flows import compile_flow, compile_project_flow, run_flow
from stepladder.runtimes import ModelPool
from tests.conftest import write_project
from tests.fake_chat import chat_server, schema_answer
from tests.tracing.spans_helpers import in_memory, model_calls

FLOW = """
name: support
state:
  message: {type: str, input: true}
  reply: str
  summary: str
nodes:
  - id: reply
    kind: generate
    tier: local
    reads: [message]
    output: reply
    retries: 0
    frequency_penalty: 0.3
    presence_penalty: 0.1
  - {id: summary, kind: generate, tier: local, reads: [message], output: summary, retries: 0}
"""


async def test_a_node_sends_its_penalties_and_another_node_sends_none(tmp_path: Path) -> None:
    tracing, exporter = in_memory()
    with chat_server(schema_answer) as (port, requests):
        settings = (
            "name: support\ntiers:\n"
            f'  local: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{port}/v1", '
            "model: m}\n"
        )
        project = load_project(root=write_project(tmp_path, {"flows/support.yaml": FLOW}, settings))
        flow = compile_project_flow(project, "support")
        async with ModelPool(project.settings.tiers) as models:
            result = await run_flow(flow, {"message": "hi"}, models=models, tracing=tracing)
    assert result.state["reply"] == "reply text"
    penalised, plain = requests
    assert (penalised["frequency_penalty"], penalised["presence_penalty"]) == (0.3, 0.1)
    assert "frequency_penalty" not in plain and "presence_penalty" not in plain
    first = model_calls(exporter.get_finished_spans())[0]
    assert first.attributes.get("gen_ai.request.frequency_penalty") == 0.3


def test_a_penalty_out_of_range_names_its_field() -> None:
    spec = {
        "name": "f",
        "state": {"message": {"type": "str", "input": True}, "reply": "str"},
        "nodes": [{"id": "reply", "kind": "generate", "reads": ["message"], "output": "reply",
                   "frequency_penalty": 3}],
    }  # fmt: skip
    with pytest.raises(FlowSpecError, match=r"nodes\[0\].*frequency_penalty"):
        flow_from_dict(spec)


@pytest.mark.slow
async def test_the_embedded_model_takes_a_frequency_penalty(embedded_pool: Any) -> None:
    spec = {
        "name": "f",
        "state": {"message": {"type": "str", "input": True}, "reply": "str"},
        "nodes": [{"id": "reply", "kind": "generate", "reads": ["message"], "output": "reply",
                   "instructions": "Answer the customer in one sentence.", "max_tokens": 48,
                   "frequency_penalty": 0.5, "retries": 1}],
    }  # fmt: skip
    flow = compile_flow(flow_from_dict(spec))
    result = await run_flow(flow, {"message": "Where is my order?"}, models=embedded_pool)
    assert isinstance(result.state["reply"], str) and result.state["reply"].strip()
