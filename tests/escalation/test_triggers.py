"""Each trigger sends a node up its ladder; every attempt is traced with its tier and reason."""

from __future__ import annotations

from typing import Any

import pytest

from stepladder import NodeError, NodeOutputError
from stepladder.flows import run_flow
from tests.escalation.helpers import CLASSIFY, EXTRACT, GENERATE, dummy, flow_of, pool
from tests.tracing.spans_helpers import attrs, by_name, in_memory, model_calls

LADDER_NO_HUMAN = ("small", "frontier")


async def test_invalid_output_escalates_instead_of_raising() -> None:
    node = {**GENERATE, "escalate": {}}
    models = pool(small=dummy({"reply": "x" * 30}), frontier=dummy({"reply": "Sorry!"}))
    tracing, exporter = in_memory()
    flow = flow_of(node, ladder=LADDER_NO_HUMAN)
    result = await run_flow(flow, {"message": "hi"}, models=models, tracing=tracing)
    assert result.state["reply"] == "Sorry!"
    assert result.usage["escalations"] == 1 and result.usage["calls"] == 2
    calls = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert [c["stepladder.tier"] for c in calls] == ["small", "frontier"]
    assert "stepladder.escalation.reason" not in calls[0]
    assert calls[1]["stepladder.escalation.reason"] == "invalid"
    node_span = attrs(by_name(exporter.get_finished_spans())["node reply"])
    assert node_span["stepladder.escalation.final_tier"] == "frontier"
    assert node_span["stepladder.escalation.reasons"] == ("invalid",)
    root = attrs(by_name(exporter.get_finished_spans())["run esc"])
    assert root["stepladder.escalations"] == 1


async def test_retries_come_before_escalation_and_only_the_first_call_up_is_marked() -> None:
    node = {**GENERATE, "retries": 1, "escalate": {"triggers": ["invalid"]}}
    models = pool(
        small=dummy({"reply": "x" * 30}, {"reply": "y" * 30}),
        frontier=dummy({"reply": "z" * 30}, {"reply": "Fine."}),
    )
    result = await run_flow(flow_of(node, ladder=LADDER_NO_HUMAN), {"message": "hi"}, models=models)
    assert result.state["reply"] == "Fine."
    assert result.usage["calls"] == 4
    assert result.usage["retries"] == 2
    assert result.usage["escalations"] == 1


async def test_without_the_invalid_trigger_invalid_output_still_raises() -> None:
    policy = {"triggers": ["verifier"], "verifier": "tests.escalation.verifiers:always"}
    node = {**EXTRACT, "escalate": policy}
    models = pool(small=dummy({"nonsense": 1}), frontier=dummy({"order_id": "1"}))
    with pytest.raises(NodeOutputError, match="invalid after 1 attempt"):
        await run_flow(flow_of(node, ladder=LADDER_NO_HUMAN), {"message": "hi"}, models=models)


async def test_the_last_rung_raises_when_its_output_stays_invalid() -> None:
    node = {**GENERATE, "escalate": {}}
    models = pool(small=dummy({"reply": "x" * 30}), frontier=dummy({"reply": "y" * 30}))
    with pytest.raises(NodeOutputError) as caught:
        await run_flow(flow_of(node, ladder=LADDER_NO_HUMAN), {"message": "hi"}, models=models)
    assert "y" * 30 in caught.value.raw_output


async def test_low_agreement_between_samples_escalates_extract() -> None:
    node = {**EXTRACT, "escalate": {"min_confidence": 0.9, "samples": 3}}
    models = pool(
        small=dummy({"order_id": "11"}, {"order_id": "12"}, {"order_id": "11"}),
        frontier=dummy({"order_id": "42"}, {"order_id": "42"}, {"order_id": " 42 "}),
    )
    tracing, exporter = in_memory()
    flow = flow_of(node, ladder=LADDER_NO_HUMAN)
    result = await run_flow(flow, {"message": "order 42"}, models=models, tracing=tracing)
    assert result.state["order_id"] == "42"
    calls = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert [c["stepladder.tier"] for c in calls] == ["small"] * 3 + ["frontier"] * 3
    assert [c.get("stepladder.sample") for c in calls] == [None, 1, 2] * 2
    assert calls[3]["stepladder.escalation.reason"] == "confidence"
    node_span = attrs(by_name(exporter.get_finished_spans())["node extract"])
    assert node_span["stepladder.confidence"] == 1.0  # the frontier's samples agree
    events = by_name(exporter.get_finished_spans())["node extract"].events
    assert events[0].attributes["detail"] == "confidence 0.667 < 0.9"


async def test_agreeing_samples_keep_the_small_answer() -> None:
    node = {**EXTRACT, "escalate": {"min_confidence": 0.6, "samples": 3}}
    models = pool(small=dummy({"order_id": "11"}, {"order_id": "12"}, {"order_id": "11"}))
    result = await run_flow(flow_of(node, ladder=LADDER_NO_HUMAN), {"message": "x"}, models=models)
    assert result.state["order_id"] == "11" and result.usage["escalations"] == 0


async def test_classify_without_logprobs_uses_sample_agreement() -> None:
    node = {**CLASSIFY, "escalate": {"min_confidence": 0.8, "samples": 2}}
    models = pool(
        small=dummy({"category": "ORDER"}, {"category": "REFUND"}),
        frontier=dummy({"category": "REFUND"}, {"category": "REFUND"}),
    )
    result = await run_flow(flow_of(node, ladder=LADDER_NO_HUMAN), {"message": "x"}, models=models)
    assert result.state == {**result.state, "category": "REFUND", "confidence": 1.0}
    assert result.usage["escalations"] == 1


async def test_classify_with_one_sample_and_no_logprobs_does_not_escalate() -> None:
    node = {**CLASSIFY, "escalate": {"min_confidence": 0.8}}
    models = pool(small=dummy({"category": "ORDER"}))
    result = await run_flow(flow_of(node, ladder=LADDER_NO_HUMAN), {"message": "x"}, models=models)
    assert result.state["category"] == "ORDER" and result.state["confidence"] is None


async def test_a_verifier_function_that_refuses_escalates_with_its_reason() -> None:
    verifier = "tests.escalation.verifiers:has_digits"
    node = {**EXTRACT, "escalate": {"verifier": verifier}}
    models = pool(small=dummy({"order_id": "abc"}), frontier=dummy({"order_id": "42"}))
    tracing, exporter = in_memory()
    flow = flow_of(node, ladder=LADDER_NO_HUMAN)
    result = await run_flow(flow, {"message": "order 42"}, models=models, tracing=tracing)
    assert result.state["order_id"] == "42"
    calls = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert calls[1]["stepladder.escalation.reason"] == "verifier"
    event = by_name(exporter.get_finished_spans())["node extract"].events[0]
    assert event.attributes["detail"] == "order id 'abc' is not digits from the message"


async def test_a_verifier_that_passes_keeps_the_answer() -> None:
    node = {**EXTRACT, "escalate": {"verifier": "tests.escalation.verifiers:has_digits"}}
    models = pool(small=dummy({"order_id": "42"}))
    result = await run_flow(flow_of(node), {"message": "order 42"}, models=models)
    assert result.state["order_id"] == "42" and result.usage["escalations"] == 0


async def test_a_verifier_returning_the_wrong_type_is_a_node_error() -> None:
    node = {**EXTRACT, "escalate": {"verifier": "tests.escalation.verifiers:broken"}}
    models = pool(small=dummy({"order_id": "42"}))
    with pytest.raises(NodeError, match=r"returned str; return a bool or \(bool, reason\)"):
        await run_flow(flow_of(node), {"message": "order 42"}, models=models)


async def test_a_judge_on_a_tier_verifies_the_output() -> None:
    judge = {"tier": "judge", "criteria": "the reply is polite"}
    node = {**GENERATE, "escalate": {"verifier": judge}}
    models = pool(
        small=dummy({"reply": "Go away."}),
        frontier=dummy({"reply": "Happy to help!"}),
        judge=dummy({"passed": False, "reason": "it is rude"}),
    )
    tracing, exporter = in_memory()
    flow = flow_of(node, ladder=LADDER_NO_HUMAN)
    assert "judge" in flow.tiers  # started with the run, so a missing key fails early
    result = await run_flow(flow, {"message": "hi"}, models=models, tracing=tracing)
    assert result.state["reply"] == "Happy to help!"
    calls = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert [c["stepladder.tier"] for c in calls] == ["small", "judge", "frontier"]
    assert calls[1]["stepladder.node.kind"] == "verifier"
    assert calls[2]["stepladder.escalation.reason"] == "verifier"
    judged = models._given["judge"].history[0]["messages"][-1]["content"]
    assert "the reply is polite" in judged and "Go away." in judged


@pytest.mark.parametrize(
    ("route", "tiers", "reason"),
    [("frontier", ["frontier"], "router"), ("small", ["small"], None), (None, ["small"], None)],
)
async def test_tier_from_starts_where_the_router_says(
    route: str | None, tiers: list[str], reason: str | None
) -> None:
    node = {**GENERATE, "tier_from": "route"}
    models = pool(small=dummy({"reply": "small"}), frontier=dummy({"reply": "big"}))
    tracing, exporter = in_memory()
    data: dict[str, Any] = {"message": "hi"}
    state = {"message": {"type": "str", "input": True}, "route": {"type": "optional[str]",
             "input": True}, "reply": "str"}  # fmt: skip
    flow = flow_of(node, ladder=LADDER_NO_HUMAN, state=state)
    result = await run_flow(flow, {**data, "route": route}, models=models, tracing=tracing)
    calls = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert [c["stepladder.tier"] for c in calls] == tiers
    assert calls[0].get("stepladder.escalation.reason") == reason
    assert result.usage["escalations"] == (1 if reason else 0)


async def test_a_router_below_the_node_tier_starts_lower_without_a_reason() -> None:
    node = {**GENERATE, "tier": "frontier", "tier_from": "route"}
    state = {"message": {"type": "str", "input": True}, "route": {"type": "optional[str]",
             "input": True}, "reply": "str"}  # fmt: skip
    models = pool(small=dummy({"reply": "small"}), frontier=dummy({"reply": "big"}))
    flow = flow_of(node, ladder=LADDER_NO_HUMAN, state=state)
    result = await run_flow(flow, {"message": "hi", "route": "small"}, models=models)
    assert result.state["reply"] == "small" and result.usage["escalations"] == 0
