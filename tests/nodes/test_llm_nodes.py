"""LLM node wiring with DSPy's DummyLM (the real embedded model is in tests/runtimes)."""

import math
from typing import Any

import pytest
from dspy.utils.dummies import DummyLM

from stepladder import FlowCompileError, NodeOutputError, compile_flow, flow_from_dict
from stepladder.errors import ModelError
from stepladder.flows import Flow, run_flow
from stepladder.nodes.classify import label_confidence
from stepladder.prompts import constrained_adapter
from stepladder.runtimes import ModelPool

STATE = {
    "message": {"type": "str", "input": True},
    "category": {"type": "enum", "values": ["ORDER", "REFUND"]},
    "confidence": "optional[float]",
    "order_id": "optional[str]",
    "amount": "optional[float]",
    "reply": "str",
}
CLASSIFY = {
    "id": "classify",
    "kind": "classify",
    "reads": ["message"],
    "labels": {"ORDER": "about an order", "REFUND": "money back"},
    "output": "category",
    "confidence": "confidence",
    "retries": 1,
}
EXTRACT = {
    "id": "extract",
    "kind": "extract",
    "reads": ["message"],
    "fields": {"order_id": {"type": "str", "description": "digits"}, "amount": "float"},
}
GENERATE = {
    "id": "reply",
    "kind": "generate",
    "reads": ["message"],
    "output": "reply",
    "max_chars": 40,
    "retries": 0,
}


def flow_of(*nodes: dict[str, Any]) -> Flow:
    spec = flow_from_dict({"name": "support", "state": STATE, "nodes": list(nodes)})
    return compile_flow(spec, tiers={"small"})


def pool(*answers: dict[str, Any]) -> tuple[ModelPool, DummyLM]:
    lm = DummyLM(list(answers), adapter=constrained_adapter())
    return ModelPool({}, lms={"small": lm}), lm


async def test_three_node_kinds_in_one_flow() -> None:
    models, lm = pool(
        {"category": "REFUND"},
        {"order_id": "5512345", "amount": None},
        {"reply": "We will refund order 5512345."},
    )
    result = await run_flow(
        flow_of(CLASSIFY, EXTRACT, GENERATE), {"message": "refund 5512345"}, models=models
    )
    assert result.state["category"] == "REFUND"
    assert result.state["confidence"] is None  # DummyLM returns no log-probabilities
    assert result.state["order_id"] == "5512345"
    assert result.state["amount"] is None
    assert result.state["reply"] == "We will refund order 5512345."
    assert result.usage["calls"] == 3
    sent = lm.history[0]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["category"]["enum"] == ["ORDER", "REFUND"]
    assert lm.history[1]["kwargs"]["response_format"]["json_schema"]["strict"] is True


async def test_invalid_label_is_retried_then_accepted() -> None:
    models, lm = pool({"category": "SHIPPING"}, {"category": "ORDER"})
    result = await run_flow(flow_of(CLASSIFY), {"message": "where is it"}, models=models)
    assert result.state["category"] == "ORDER"
    assert result.usage["retries"] == 1
    assert lm.history[1]["kwargs"]["temperature"] > 0


async def test_output_that_stays_invalid_raises_node_output_error() -> None:
    models, _ = pool({"reply": "x" * 80})
    with pytest.raises(NodeOutputError) as caught:
        await run_flow(flow_of(GENERATE), {"message": "hi"}, models=models)
    assert caught.value.attempts == 1
    assert "x" * 80 in caught.value.raw_output
    assert "at most 40 characters" in str(caught.value)


CAPPED_EXTRACT = {
    "id": "extract",
    "kind": "extract",
    "reads": ["message"],
    "fields": {
        "order_id": {"type": "optional[str]", "max_chars": 10},
        "names": {"type": "list[str]", "max_chars": 5, "optional": False},
        "amount": {"type": "float", "max_chars": 3},
    },
    "retries": 1,
}
CAPPED_STATE = {**STATE, "names": "list[str]"}


def capped_flow(node: dict[str, Any], **options: Any) -> Flow:
    spec = flow_from_dict({"name": "support", "state": CAPPED_STATE, "nodes": [node]})
    return compile_flow(spec, **{"tiers": {"small"}, **options})


async def test_extract_max_chars_is_in_the_schema_sent_and_too_long_is_retried() -> None:
    too_long = {"order_id": "5512345-0001-EU", "names": ["Ann"], "amount": 12.5}
    good = {"order_id": "5512345", "names": ["Ann", "Bob"], "amount": 12.5}
    models, lm = pool(too_long, good)
    result = await run_flow(capped_flow(CAPPED_EXTRACT), {"message": "hi"}, models=models)
    assert (result.state["order_id"], result.state["names"]) == ("5512345", ["Ann", "Bob"])
    assert result.usage["retries"] == 1
    sent = lm.history[0]["kwargs"]["response_format"]["json_schema"]["schema"]["properties"]
    assert {"type": "string", "maxLength": 10} in sent["order_id"]["anyOf"]  # optional[str]
    assert sent["names"]["items"] == {"type": "string", "maxLength": 5}  # each item
    assert "maxLength" not in str(sent["amount"])  # numbers are not texts


async def test_extract_text_over_max_chars_is_invalid_output() -> None:
    models, _ = pool({"order_id": "x" * 11, "names": [], "amount": 1.0})
    node = {**CAPPED_EXTRACT, "retries": 0}
    with pytest.raises(NodeOutputError, match=r"order_id: String should have at most 10 char"):
        await run_flow(capped_flow(node), {"message": "hi"}, models=models)
    models, _ = pool({"order_id": None, "names": ["Bartholomew"], "amount": 1.0})
    with pytest.raises(NodeOutputError, match=r"names\.0: String should have at most 5 char"):
        await run_flow(capped_flow(node), {"message": "hi"}, models=models)


async def test_extract_text_over_max_chars_escalates_like_any_invalid_output() -> None:
    node = {**CAPPED_EXTRACT, "retries": 0, "escalate": {}}
    flow = capped_flow(node, tiers={"small", "frontier"}, ladder=("small", "frontier"))
    small = DummyLM(
        [{"order_id": "y" * 40, "names": [], "amount": 2.0}], adapter=constrained_adapter()
    )
    frontier = DummyLM(
        [{"order_id": "77", "names": [], "amount": 2.0}], adapter=constrained_adapter()
    )
    models = ModelPool({}, lms={"small": small, "frontier": frontier})
    result = await run_flow(flow, {"message": "hi"}, models=models)
    assert result.state["order_id"] == "77"
    assert result.usage["escalations"] == 1 and result.usage["calls"] == 2


async def test_garbage_that_is_not_json_is_reported() -> None:
    models, _ = pool({"nonsense": "!!"}, {"nonsense": "??"})
    with pytest.raises(NodeOutputError, match="invalid after 2 attempt"):
        await run_flow(flow_of(CLASSIFY), {"message": "hi"}, models=models)


def test_unbound_tier_is_a_compile_error() -> None:
    spec = flow_from_dict(
        {"name": "x", "state": STATE, "nodes": [{**CLASSIFY, "tier": "frontier"}]}
    )
    with pytest.raises(FlowCompileError, match=r"unknown tier 'frontier'.*Valid: small"):
        compile_flow(spec, tiers={"small"})


async def test_a_run_without_models_says_what_to_do() -> None:
    with pytest.raises(ModelError, match="given no ModelPool"):
        await run_flow(flow_of(CLASSIFY), {"message": "hi"})


def test_writes_default_to_the_outputs() -> None:
    spec = flow_from_dict({"name": "x", "state": STATE, "nodes": [CLASSIFY, EXTRACT, GENERATE]})
    assert [node.writes for node in spec.nodes] == [
        ["category", "confidence"],
        ["order_id", "amount"],
        ["reply"],
    ]


def test_label_confidence_from_token_logprobs() -> None:
    logprobs = {
        "content": [
            {"token": '{"category": "', "logprob": -0.1},
            {"token": "REF", "logprob": math.log(0.5)},
            {"token": "UND", "logprob": math.log(0.8)},
            {"token": '"}', "logprob": -0.01},
        ]
    }
    assert label_confidence(logprobs, "REFUND") == pytest.approx(0.4, abs=1e-3)
    assert label_confidence(logprobs, "ORDER") is None
    assert label_confidence(None, "ORDER") is None


def test_label_confidence_is_a_share_among_allowed_labels() -> None:
    top = [
        {"token": "REF", "logprob": math.log(0.3)},
        {"token": "ORD", "logprob": math.log(0.1)},
        {"token": "Custom", "logprob": math.log(0.5)},
    ]
    logprobs = {
        "content": [
            {"token": '{"category": "', "logprob": -0.1, "top_logprobs": []},
            {"token": "REF", "logprob": math.log(0.3), "top_logprobs": top},
            {"token": "UND", "logprob": math.log(0.9), "top_logprobs": []},
        ]
    }
    # "Custom" starts no label, so REFUND's share is 0.3 / (0.3 + 0.1).
    assert label_confidence(logprobs, "REFUND", ["ORDER", "REFUND"]) == pytest.approx(0.75)


async def test_signature_by_reference() -> None:
    from pathlib import Path

    root = Path(__file__).parent / "signature_project"
    node = {k: v for k, v in CLASSIFY.items() if k not in ("labels", "confidence")}
    spec = flow_from_dict(
        {
            "name": "x",
            "state": STATE,
            "nodes": [{**node, "labels": ["ORDER", "REFUND"], "signature": "sig_defs:Triage"}],
        }
    )
    flow = compile_flow(spec, project_root=root, tiers={"small"})
    models, lm = pool({"category": "ORDER"})
    result = await run_flow(flow, {"message": "hi"}, models=models)
    assert result.state["category"] == "ORDER"
    assert "Sort the message." in str(lm.history[0]["messages"][0]["content"])


async def test_demos_are_shown_to_the_model() -> None:
    demo = {"message": "where is my refund", "category": "REFUND", "ignored": 1}
    models, lm = pool({"category": "ORDER"})
    await run_flow(flow_of({**CLASSIFY, "demos": [demo]}), {"message": "hi"}, models=models)
    contents = [m["content"] for m in lm.history[0]["messages"]]
    assert any("where is my refund" in str(c) for c in contents)
    assert any('"category": "REFUND"' in str(c) for c in contents)
