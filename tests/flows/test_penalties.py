"""A node's `frequency_penalty` / `presence_penalty` / `dry_multiplier`: sent with its calls
only, and traced.

The request bodies are read by a loopback OpenAI-style server; tests on the real embedded
llama.cpp model run the penalty and read the DRY strength back from the server's slots.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from stepladder import FlowSpecError, flow_from_dict
from stepladder.config import load_project
from stepladder.config.tiers import LlamaCppTier, OpenAICompatibleTier
from stepladder.flows import compile_flow, compile_project_flow, run_flow
from stepladder.runtimes import ModelPool
from stepladder.runtimes.llamacpp import BASE_REQUEST
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


def _one_reply(**fields: Any) -> dict[str, Any]:
    """A flow of one generate node on the default tier, with `fields`."""
    node = {"id": "reply", "kind": "generate", "reads": ["message"], "output": "reply", **fields}
    state = {"message": {"type": "str", "input": True}, "reply": "str"}
    return {"name": "f", "state": state, "nodes": [node]}


def test_a_penalty_out_of_range_names_its_field() -> None:
    with pytest.raises(FlowSpecError, match=r"nodes\[0\].*frequency_penalty"):
        flow_from_dict(_one_reply(frequency_penalty=3))


@pytest.mark.slow
async def test_the_embedded_model_takes_a_frequency_penalty(embedded_pool: Any) -> None:
    spec = _one_reply(instructions="Answer the customer in one sentence.", max_tokens=48,
                      frequency_penalty=0.5, retries=1)  # fmt: skip
    flow = compile_flow(flow_from_dict(spec))
    result = await run_flow(flow, {"message": "Where is my order?"}, models=embedded_pool)
    assert isinstance(result.state["reply"], str) and result.state["reply"].strip()


def _two_replies(**fields: Any) -> dict[str, Any]:
    """Two generate nodes with `fields`: one on tier `llama`, one on tier `api`."""
    nodes = [{"id": tier, "kind": "generate", "tier": tier, "reads": ["message"],
              "output": tier, "retries": 0, **fields} for tier in ("llama", "api")]  # fmt: skip
    state = {"message": {"type": "str", "input": True}, "llama": "str", "api": "str"}
    return {"name": "f", "state": state, "nodes": nodes}


async def test_dry_goes_to_llama_cpp_tiers_only_and_is_traced() -> None:
    import dspy

    tracing, exporter = in_memory()
    flow = compile_flow(flow_from_dict(_two_replies(dry_multiplier=0.8)))
    with chat_server(schema_answer) as (port, requests):
        url = f"http://127.0.0.1:{port}/v1"
        tiers = {"llama": LlamaCppTier(runtime="llamacpp"),
                 "api": OpenAICompatibleTier(runtime="openai-compatible", base_url=url,
                                             model="m")}  # fmt: skip
        lms = {name: dspy.LM("openai/m", api_base=url, api_key="x", cache=False,
                             num_retries=0) for name in tiers}  # fmt: skip
        async with ModelPool(tiers, lms=lms) as models:
            await run_flow(flow, {"message": "hi"}, models=models, tracing=tracing)
    by_tier = {span.attributes["stepladder.tier"]: span
               for span in model_calls(exporter.get_finished_spans())}  # fmt: skip
    assert len(requests) == 2
    sent = [request for request in requests if "dry_multiplier" in request]
    assert [request["dry_multiplier"] for request in sent] == [0.8]
    assert by_tier["llama"].attributes.get("stepladder.request.dry_multiplier") == 0.8
    assert "stepladder.request.dry_multiplier" not in (by_tier["api"].attributes or {})


async def test_dry_keeps_the_body_fields_of_the_tier() -> None:
    # A llama.cpp server that loaded adapters takes a `lora` field on base calls (none
    # applied); the node's body replaces the tier's, so it must carry that field too.
    import dspy

    flow = compile_flow(flow_from_dict(_one_reply(tier="llama", dry_multiplier=0.8, retries=0)))
    with chat_server(schema_answer) as (port, requests):
        lm = dspy.LM("openai/m", api_base=f"http://127.0.0.1:{port}/v1", api_key="x",
                     cache=False, num_retries=0)  # fmt: skip
        async with ModelPool(
            {"llama": LlamaCppTier(runtime="llamacpp")}, lms={"llama": lm}
        ) as models:
            bound = await models.bound("llama")
            endpoint = replace(bound.endpoint, extra_body=BASE_REQUEST)
            models._bound["llama"] = replace(bound, endpoint=endpoint)
            await run_flow(flow, {"message": "hi"}, models=models)
    (request,) = requests
    assert request["lora"] == BASE_REQUEST["lora"] and request["dry_multiplier"] == 0.8


def test_a_dry_strength_of_zero_or_above_five_names_its_field() -> None:
    for wrong in (0, 6):
        with pytest.raises(FlowSpecError, match=r"nodes\[0\].*dry_multiplier"):
            flow_from_dict(_one_reply(dry_multiplier=wrong))


@pytest.mark.slow
async def test_the_embedded_server_runs_its_dry_sampler_at_the_nodes_strength(
    embedded_pool: Any,
) -> None:
    spec = _one_reply(instructions="Answer the customer in one short sentence.", max_tokens=96,
                      dry_multiplier=0.8, retries=1)  # fmt: skip
    flow = compile_flow(flow_from_dict(spec))
    result = await run_flow(flow, {"message": "Where is my order?"}, models=embedded_pool)
    assert isinstance(result.state["reply"], str) and result.state["reply"].strip()
    # llama.cpp's /slots lists each slot's sampling settings of its last request.
    base_url = (await embedded_pool.bound("small")).endpoint.base_url.removesuffix("/v1")
    slots = httpx.get(f"{base_url}/slots", timeout=30).json()
    strengths = [slot["params"].get("dry_multiplier") for slot in slots if slot.get("params")]
    assert any(strength == pytest.approx(0.8) for strength in strengths), strengths
