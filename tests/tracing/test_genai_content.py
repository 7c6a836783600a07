"""Model spans in the GenAI conventions: provider, response model, finish reasons, and the
messages, recorded only when content capture is on."""

import json
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stepladder import NodeOutputError, compile_flow, flow_from_dict
from stepladder.config import load_project
from stepladder.config.secrets import MASK
from stepladder.config.tracing import TracingSettings
from stepladder.flows import run_flow
from stepladder.serve.metrics import Metrics
from stepladder.serve.service import _tracing
from stepladder.tracing import Previews, Tracing
from stepladder.tracing.genai import CAPTURE_VARIABLE, finish_reasons, provider_name
from tests.conftest import write_project
from tests.tracing.spans_helpers import attrs, in_memory, model_calls
from tests.tracing.test_spans import priced_pool, run_support

CONTENT = ("gen_ai.input.messages", "gen_ai.output.messages")


@pytest.fixture(autouse=True)
def _capture_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CAPTURE_VARIABLE, raising=False)


def capturing() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return Tracing.with_exporter(exporter, capture_content=True), exporter


async def model_spans(tracing: Tracing, exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    await run_support(tracing, {"category": "REFUND"}, {"reply": "Refund on its way."})
    return [attrs(span) for span in model_calls(exporter.get_finished_spans())]


async def test_model_spans_name_provider_response_model_and_finish_reasons() -> None:
    calls = await model_spans(*in_memory())
    assert len(calls) == 2
    for call in calls:
        assert call["gen_ai.provider.name"] == "llama.cpp"  # the tier's runtime
        assert call["gen_ai.response.model"] == "dummy"  # what the LM answered as
        assert call["gen_ai.response.finish_reasons"] == ("stop",)
        assert not set(CONTENT) & set(call)  # content is off by default


async def test_captured_messages_follow_the_conventions_json() -> None:
    classify, reply = await model_spans(*capturing())
    sent = json.loads(classify["gen_ai.input.messages"])
    assert [m["role"] for m in sent] == ["system", "user"]
    for message in sent:
        assert [p["type"] for p in message["parts"]] == ["text"]
    assert "refund order 55" in sent[1]["parts"][0]["content"]
    assert "ORDER" in sent[0]["parts"][0]["content"]  # the labels are in the instructions
    answered = json.loads(classify["gen_ai.output.messages"])
    assert len(answered) == 1 and answered[0]["role"] == "assistant"
    assert answered[0]["finish_reason"] == "stop"
    [part] = answered[0]["parts"]
    assert part["type"] == "text" and json.loads(part["content"]) == {"category": "REFUND"}
    assert json.loads(json.loads(reply["gen_ai.output.messages"])[0]["parts"][0]["content"]) == {
        "reply": "Refund on its way."
    }


async def test_the_environment_variable_turns_capture_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CAPTURE_VARIABLE, "true")
    calls = await model_spans(*in_memory())
    assert all(set(CONTENT) <= set(call) for call in calls)
    monkeypatch.setenv(CAPTURE_VARIABLE, "false")
    assert not any(set(CONTENT) & set(call) for call in await model_spans(*in_memory()))


async def test_captured_content_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"sk-content-{uuid.uuid4().hex}"
    monkeypatch.setenv("CONTENT_TEST_API_KEY", secret)
    tracing, exporter = capturing()  # registers the environment's secrets
    spec = flow_from_dict({
        "name": "echo", "state": {"message": {"type": "str", "input": True}, "reply": "str"},
        "nodes": [{"id": "reply", "kind": "generate", "reads": ["message"], "output": "reply"}],
    })  # fmt: skip
    models = priced_pool({"reply": f"your key is {secret}"})
    flow = compile_flow(spec, tiers={"small"})
    await run_flow(flow, {"message": f"my key is {secret}"}, models=models, tracing=tracing)
    [call] = [attrs(span) for span in model_calls(exporter.get_finished_spans())]
    for key in CONTENT:
        assert secret not in call[key] and MASK in call[key]
        json.loads(call[key])  # still valid JSON


def test_capture_is_off_by_default_in_settings_and_serve(tmp_path: Path) -> None:
    assert not Tracing.for_project(TracingSettings(), tmp_path).capture_content
    assert Tracing.for_project(TracingSettings(capture_content=True), tmp_path).capture_content
    redacted = TracingSettings(capture_content=True, redact=True)
    assert not Tracing.for_project(redacted, tmp_path).capture_content  # redaction wins
    plain = write_project(tmp_path / "plain", {})
    assert not _tracing(load_project(root=plain), Metrics()).capture_content
    on = write_project(tmp_path / "on", {}, "name: capture\ntracing: {capture_content: true}\n")
    assert _tracing(load_project(root=on), Metrics()).capture_content
    assert not Tracing(None, Previews()).capture_content


def test_provider_names_and_finish_reasons() -> None:
    assert provider_name("llamacpp", "openai/SmolLM2") == "llama.cpp"
    assert provider_name("sglang", "openai/m") == "sglang"
    assert provider_name("openai-compatible", "openai/m") == "openai-compatible"
    assert provider_name("litellm", "openai/gpt-4.1-mini") == "openai"
    assert provider_name("litellm", "anthropic/claude-sonnet-4-5") == "anthropic"
    assert provider_name("litellm", "gemini/gemini-2.5-flash") == "gcp.gemini"
    assert provider_name("litellm", "acme/model") == "_OTHER"
    assert provider_name("", "dummy") == "_OTHER"
    openai_style = {"choices": [{"finish_reason": "length"}, {"finish_reason": "stop"}]}
    assert finish_reasons(openai_style) == ["length", "stop"]
    assert finish_reasons(None) == []


@pytest.mark.slow
async def test_a_real_embedded_call_carries_the_genai_attributes(embedded_pool: Any) -> None:
    tracing, exporter = capturing()
    spec = flow_from_dict({
        "name": "real", "state": {"message": {"type": "str", "input": True}, "reply": "str"},
        "nodes": [{"id": "reply", "kind": "generate", "reads": ["message"], "output": "reply",
                   "instructions": "Answer in a few words.", "max_tokens": 24, "retries": 0}],
    })  # fmt: skip
    flow = compile_flow(spec, tiers={"small"})
    with suppress(NodeOutputError):  # a 135M model may cut its JSON short: spans still count
        await run_flow(flow, {"message": "Say hello."}, models=embedded_pool, tracing=tracing)
    [call, *_] = [attrs(span) for span in model_calls(exporter.get_finished_spans())]
    assert call["gen_ai.provider.name"] == "llama.cpp"
    assert call["gen_ai.response.model"]  # the server's name for the model
    assert set(call["gen_ai.response.finish_reasons"]) <= {"stop", "length"}
    sent = json.loads(call["gen_ai.input.messages"])
    assert sent[-1]["role"] == "user" and "Say hello." in sent[-1]["parts"][0]["content"]
    [answer] = json.loads(call["gen_ai.output.messages"])
    assert answer["role"] == "assistant" and answer["parts"][0]["content"]
    assert answer["finish_reason"] == call["gen_ai.response.finish_reasons"][0]
