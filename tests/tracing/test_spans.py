"""The span tree of a run, its attributes, failures, redaction and secrets (in-memory spans)."""

from typing import Any

import pytest
from dspy.utils.dummies import DummyLM
from opentelemetry.trace import SpanKind, StatusCode

from stepladder import FlowBuilder, NodeError, compile_flow, flow_from_dict
from stepladder.config.costs import MachineCost
from stepladder.config.tiers import LlamaCppTier
from stepladder.flows import Flow, run_flow
from stepladder.prompts import constrained_adapter
from stepladder.runtimes import ModelPool
from stepladder.runtimes.base import read_api_key
from stepladder.tracing import REDACTED, Previews
from tests.tracing.spans_helpers import (
    attrs,
    by_name,
    in_memory,
    model_calls,
    parent_of,
    span_id,
)

STATE = {
    "message": {"type": "str", "input": True},
    "clean": "str",
    "category": {"type": "enum", "values": ["ORDER", "REFUND"]},
    "reply": "str",
    "done": "bool",
}
NODES = [
    {"id": "tidy", "kind": "function", "call": "tests.tracing.test_spans:tidy",
     "reads": ["message"], "writes": ["clean"]},
    {"id": "classify", "kind": "classify", "reads": ["clean"], "output": "category",
     "labels": {"ORDER": "about an order", "REFUND": "money back"}, "retries": 1},
    {"id": "reply", "kind": "generate", "reads": ["clean"], "output": "reply", "retries": 0},
    {"id": "finish", "kind": "function", "call": "tests.tracing.test_spans:finish",
     "reads": ["reply"], "writes": ["done"]},
]  # fmt: skip


def tidy(message: str) -> str:
    return message.strip().lower()


def finish(reply: str) -> bool:
    return bool(reply)


def support_flow() -> Flow:
    spec = flow_from_dict({"name": "support", "state": STATE, "nodes": NODES})
    return compile_flow(spec, tiers={"small"}, allow_imports=("tests",))


def priced_pool(*answers: dict[str, Any]) -> ModelPool:
    """DummyLM answers on a tier priced by machine seconds ($3.60/h = $0.001 a second)."""
    lm = DummyLM(list(answers), adapter=constrained_adapter())
    cost = MachineCost(usd_per_hour=3.6, share="seconds")
    return ModelPool({"small": LlamaCppTier(runtime="llamacpp", cost=cost)}, lms={"small": lm})


async def run_support(tracing: Any, *answers: dict[str, Any]) -> Any:
    models = priced_pool(*answers)
    return await run_flow(
        support_flow(), {"message": "  Refund order 55  "}, models=models, tracing=tracing
    )


async def test_a_run_is_one_trace_with_a_span_per_node_and_model_call() -> None:
    tracing, exporter = in_memory()
    result = await run_support(tracing, {"category": "REFUND"}, {"reply": "Refund on its way."})
    finished = exporter.get_finished_spans()
    spans = by_name(finished)
    assert set(spans) == {"run support", "node tidy", "node classify", "node reply", "node finish"}
    run = spans["run support"]
    assert parent_of(run) is None
    assert {s.context.trace_id for s in finished} == {run.context.trace_id}
    assert result.trace_id == f"{run.context.trace_id:032x}"
    for node in ("tidy", "classify", "reply", "finish"):
        assert parent_of(spans[f"node {node}"]) == span_id(run)
    model_spans = model_calls(finished)
    assert sorted(attrs(s)["stepladder.node.id"] for s in model_spans) == ["classify", "reply"]
    for model in model_spans:
        node = spans[f"node {attrs(model)['stepladder.node.id']}"]
        assert parent_of(model) == span_id(node)
        assert model.kind is SpanKind.CLIENT


async def test_span_attributes_follow_genai_and_add_stepladder_ones() -> None:
    tracing, exporter = in_memory()
    await run_support(tracing, {"category": "REFUND"}, {"reply": "Refund on its way."})
    spans = exporter.get_finished_spans()
    [classify_call] = [s for s in spans if attrs(s).get("stepladder.node.id") == "classify"
                       and s.name.startswith("chat ")]  # fmt: skip
    call = attrs(classify_call)
    assert call["gen_ai.operation.name"] == "chat"
    assert classify_call.name == f"chat {call['gen_ai.request.model']}"
    for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
                "gen_ai.usage.cache_read.input_tokens"):  # fmt: skip
        assert isinstance(call[key], int)
    assert call["stepladder.tier"] == "small"
    assert call["stepladder.node.kind"] == "classify"
    assert call["stepladder.flow.name"] == "support"
    assert call["stepladder.attempt"] == 1
    assert call["stepladder.retries"] == 0
    assert call["stepladder.cost_usd"] > 0
    assert call["stepladder.cost.basis"] == "machine-seconds"
    assert call["gen_ai.request.temperature"] == 0.0
    assert '"clean":"refund order 55"' in call["stepladder.input"]
    assert call["stepladder.output"] == '{"category":"REFUND"}'
    node = attrs(by_name(spans)["node tidy"])
    assert node["stepladder.node.kind"] == "function"
    assert node["stepladder.input"] == '{"message":"  Refund order 55  "}'
    assert node["stepladder.output"] == '{"clean":"refund order 55"}'


async def test_run_and_node_spans_carry_cost_and_totals() -> None:
    tracing, exporter = in_memory()
    result = await run_support(tracing, {"category": "REFUND"}, {"reply": "Refund on its way."})
    spans = by_name(exporter.get_finished_spans())
    run = attrs(spans["run support"])
    calls = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert run["stepladder.cost_usd"] == pytest.approx(sum(c["stepladder.cost_usd"] for c in calls))
    assert run["stepladder.cost_usd"] == pytest.approx(result.usage["cost_usd"])
    assert run["stepladder.escalations"] == 0
    by_node = result.usage["cost_by_node"]
    assert set(by_node) == {"classify", "reply"}
    for node in ("classify", "reply"):
        assert attrs(spans[f"node {node}"])["stepladder.cost_usd"] == pytest.approx(by_node[node])
    assert "stepladder.cost_usd" not in attrs(spans["node tidy"])
    assert '"done":true' in run["stepladder.output"]


async def test_an_invalid_answer_is_an_errored_model_span_then_a_retry() -> None:
    tracing, exporter = in_memory()
    await run_support(
        tracing, {"category": "SHIPPING"}, {"category": "ORDER"}, {"reply": "On its way."}
    )
    calls = sorted(
        (s for s in exporter.get_finished_spans()
         if s.name.startswith("chat ") and attrs(s)["stepladder.node.id"] == "classify"),
        key=lambda s: attrs(s)["stepladder.attempt"],
    )  # fmt: skip
    assert [attrs(c)["stepladder.attempt"] for c in calls] == [1, 2]
    assert calls[0].status.status_code is StatusCode.ERROR
    assert "invalid output" in (calls[0].status.description or "")
    assert "SHIPPING" in attrs(calls[0])["stepladder.output"]
    assert calls[1].status.status_code is not StatusCode.ERROR
    node = by_name([s for s in exporter.get_finished_spans() if s.name == "node classify"])
    assert attrs(node["node classify"])["stepladder.retries"] == 1


def broken(message: str) -> str:
    raise ValueError("the tidy step broke")


async def test_a_failure_sets_status_and_records_the_exception() -> None:
    tracing, exporter = in_memory()
    flow = (
        FlowBuilder("fragile")
        .state("message", str, input=True)
        .state("clean", str)
        .function("tidy", broken, reads=["message"], writes=["clean"])
        .compile()
    )
    with pytest.raises(NodeError):
        await run_flow(flow, {"message": "x"}, tracing=tracing)
    spans = by_name(exporter.get_finished_spans())
    for name in ("run fragile", "node tidy"):
        assert spans[name].status.status_code is StatusCode.ERROR
    [event] = [e for e in spans["node tidy"].events if e.name == "exception"]
    assert "the tidy step broke" in str(dict(event.attributes or {})["exception.message"])


async def test_redact_masks_every_preview() -> None:
    tracing, exporter = in_memory(Previews(redact=True))
    await run_support(tracing, {"category": "REFUND"}, {"reply": "Refund on its way."})
    previews = [
        value for s in exporter.get_finished_spans() for key, value in attrs(s).items()
        if key in ("stepladder.input", "stepladder.output")
    ]  # fmt: skip
    assert len(previews) >= 10
    assert set(previews) == {REDACTED}


async def test_previews_are_cut_to_the_limit() -> None:
    tracing, exporter = in_memory(Previews(limit=20))
    await run_support(tracing, {"category": "REFUND"}, {"reply": "Refund " * 40})
    reply = attrs(by_name(exporter.get_finished_spans())["node reply"])["stepladder.output"]
    assert reply.startswith('{"reply":"Refund Ref')
    assert reply.endswith(" chars)")
    assert len(reply) < 40


async def test_api_keys_never_appear_in_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-test-1234567890abcdef"
    monkeypatch.setenv("TRACE_TEST_KEY", key)
    assert read_api_key("TRACE_TEST_KEY", "frontier") == key
    tracing, exporter = in_memory()
    models = priced_pool({"category": "REFUND"}, {"reply": f"your key is {key}"})
    await run_flow(
        support_flow(), {"message": f"my key {key} leaked"}, models=models, tracing=tracing
    )
    values = [str(v) for s in exporter.get_finished_spans() for v in attrs(s).values()]
    assert not [v for v in values if key in v]
    assert any("[secret]" in v for v in values)


async def test_without_tracing_nothing_is_recorded() -> None:
    result = await run_support(None, {"category": "REFUND"}, {"reply": "Refund on its way."})
    assert result.trace_id is None
    assert result.usage["cost_usd"] > 0
