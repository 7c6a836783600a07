"""A node's `adapter:`: the spec field, the checks before any node runs, and what a call sends.

The request bodies are read by a loopback OpenAI-style server standing in for a connected
SGLang server (there is no GPU here): a call that uses the adapter sends `lora_path`, a call
without one, or escalated to another tier, does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stepladder import FlowCompileError, FlowSpecError, flow_from_dict
from stepladder.config import load_project
from stepladder.flows import compile_project_flow, run_flow
from stepladder.nodes.artifacts import ArtifactRef
from stepladder.predictors.adapters import AdapterBase
from stepladder.runtimes import ModelPool
from tests.conftest import write_project
from tests.fake_chat import chat_server, schema_answer
from tests.predictors.adapter_samples import save_sample
from tests.tracing.spans_helpers import in_memory, model_calls

STATE = {"message": {"type": "str", "input": True}, "reply": "str", "summary": "str"}
FLOW = """
name: support
state:
  message: {type: str, input: true}
  reply: str
  summary: str
nodes:
  - id: reply
    kind: generate
    tier: gpu
    reads: [message]
    output: reply
    retries: 0
    adapter: reply@v1
  - {id: summary, kind: generate, tier: gpu, reads: [message], output: summary, retries: 0}
"""
ESCALATING = """
name: support
state:
  message: {type: str, input: true}
  reply: str
nodes:
  - id: reply
    kind: generate
    tier: gpu
    reads: [message]
    output: reply
    retries: 0
    adapter: reply
    escalate: {to: [frontier]}
"""
GPU_BASE = AdapterBase(architecture="llama", folder="/models/smollm2-135m")


def gpu_project(root: Path, flow: str, port: int, frontier: int | None = None) -> Path:
    settings = (
        "name: support\ntiers:\n"
        f'  gpu: {{runtime: sglang, base_url: "http://127.0.0.1:{port}", '
        "served_model_name: m}\n"
    )
    if frontier is not None:
        settings += (
            f'  frontier: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{frontier}'
            '/v1", model: f}\n'
        )
    return write_project(root, {"flows/support.yaml": flow}, settings)


def test_llm_nodes_name_an_adapter_and_declare_it() -> None:
    for kind, extra in [
        ("classify", {"labels": ["A", "B"], "output": "reply"}),
        ("extract", {"fields": {"reply": "str"}}),
        ("generate", {"output": "reply"}),
        ("agent", {"tools": ["tests.flows.test_adapters:lookup"], "output": "reply"}),
    ]:
        node = {"id": "n", "kind": kind, "reads": ["message"], "adapter": "tuned@v2", **extra}
        spec = flow_from_dict({"name": "f", "state": STATE, "nodes": [node]})
        (built,) = spec.nodes
        assert built.artifacts() == (ArtifactRef("adapter", "tuned@v2", field="adapter"),)
        assert built.pinned(built.tier).artifacts() == built.artifacts()
        assert built.pinned("frontier").artifacts() == ()  # the adapter fits its own tier


def lookup(order: str) -> str:
    """A tool for the agent node above."""
    return order


def test_an_embedding_classifier_takes_an_adapter_only_when_it_escalates() -> None:
    node = {"id": "n", "kind": "classify", "using": "embeddings", "classifier": "intents",
            "reads": ["message"], "output": "reply", "adapter": "tuned"}  # fmt: skip
    with pytest.raises(FlowSpecError, match=r"nodes\[0\]: `adapter` applies to model calls"):
        flow_from_dict({"name": "f", "state": STATE, "nodes": [node]})
    escalating = {**node, "escalate": {"to": ["small"]}}
    spec = flow_from_dict({"name": "f", "state": STATE, "nodes": [escalating]})
    kinds = [ref.kind for ref in spec.nodes[0].artifacts()]
    assert kinds == ["classifier", "adapter"]


def test_a_missing_adapter_stops_the_flow_at_its_field(tmp_path: Path) -> None:
    root = gpu_project(tmp_path / "p", FLOW, 1)
    save_sample(root / ".stepladder", "classify", GPU_BASE)
    with pytest.raises(FlowCompileError) as error:
        compile_project_flow(load_project(root=root), "support")
    message = str(error.value)
    assert "nodes[0].adapter (" in message and "support.yaml, line 14)" in message
    assert "no adapter 'reply@v1'" in message and "Adapters here: classify" in message
    assert "`stepladder tune EVALSPEC --name reply --node NODE`" in message


async def test_a_stale_adapter_stops_the_run_before_any_node(tmp_path: Path) -> None:
    model = tmp_path / "retrained.gguf"
    model.write_bytes(b"another base model")
    flow = FLOW.replace("tier: gpu", "tier: small")
    settings = f"name: support\ntiers:\n  small: {{runtime: llamacpp, model: {model}}}\n"
    root = write_project(tmp_path / "p", {"flows/support.yaml": flow}, settings)
    saved = save_sample(root / ".stepladder", "reply")  # trained on SmolLM2's GGUF
    project = load_project(root=root)
    flow_ = compile_project_flow(project, "support")
    models = ModelPool(project.settings.tiers)
    with pytest.raises(FlowCompileError) as error:
        await run_flow(flow_, {"message": "hi"}, models=models)
    message = str(error.value)
    assert message.startswith("nodes[0].adapter (")
    assert f"adapter 'reply@v1' was trained on {saved.manifest.base.describe()}" in message
    assert "now serves" in message and "the base model changed" in message
    assert "Retrain it with `stepladder tune EVALSPEC --name reply --node NODE`" in message


async def test_a_tier_without_adapters_is_refused(tmp_path: Path) -> None:
    with chat_server(schema_answer) as (port, requests):
        settings = (
            "name: support\ntiers:\n"
            f'  gpu: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{port}/v1", '
            "model: m}\n"
        )
        root = write_project(tmp_path / "p", {"flows/support.yaml": FLOW}, settings)
        save_sample(root / ".stepladder", "reply", GPU_BASE)
        project = load_project(root=root)
        with pytest.raises(FlowCompileError, match="only llamacpp and sglang tiers serve LoRA"):
            await run_flow(
                compile_project_flow(project, "support"), {"message": "hi"},
                models=ModelPool(project.settings.tiers),
            )  # fmt: skip
    assert requests == []


async def test_a_call_sends_its_adapter_and_a_call_without_one_does_not(tmp_path: Path) -> None:
    tracing, exporter = in_memory()
    with chat_server(schema_answer) as (port, requests):
        root = gpu_project(tmp_path / "p", FLOW, port)
        save_sample(root / ".stepladder", "reply", GPU_BASE)
        project = load_project(root=root)
        flow = compile_project_flow(project, "support")
        async with ModelPool(project.settings.tiers) as models:
            result = await run_flow(flow, {"message": "hi"}, models=models, tracing=tracing)
    assert result.state["reply"] == "reply text"
    tuned, plain = requests
    assert tuned["lora_path"] == "reply@v1"
    assert "lora_path" not in plain and "lora" not in plain
    assert [s.attributes.get("stepladder.adapter") for s in model_calls(
        exporter.get_finished_spans())] == ["reply@v1", None]  # fmt: skip
    assert list(result.usage["cost_by_adapter"]) == ["reply@v1"]


async def test_a_call_escalated_to_another_tier_runs_without_the_adapter(tmp_path: Path) -> None:
    def invalid(request: dict[str, Any]) -> str:
        return "not json"

    with chat_server(invalid) as (port, small), chat_server(schema_answer) as (big_port, big):
        root = gpu_project(tmp_path / "p", ESCALATING, port, big_port)
        save_sample(root / ".stepladder", "reply", GPU_BASE)
        project = load_project(root=root)
        flow = compile_project_flow(project, "support")
        async with ModelPool(project.settings.tiers) as models:
            result = await run_flow(flow, {"message": "hi"}, models=models)
    assert result.state["reply"] == "reply text"
    assert [r.get("lora_path") for r in small] == ["reply@v1"]
    assert [r.get("lora_path") for r in big] == [None]
    assert list(result.usage["cost_by_adapter"]) == ["reply@v1"]
