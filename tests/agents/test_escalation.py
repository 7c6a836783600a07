"""An agent that gives up (step limit, invalid output) climbs the ladder: frontier, human."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stepladder import compile_flow, flow_from_dict
from stepladder.errors import NodeOutputError
from stepladder.flows import Flow, run_flow
from tests.agents.helpers import AGENT, STATE, call
from tests.escalation.helpers import KEYLESS, LADDER, dummy, keyless_frontier, pool
from tests.tracing.spans_helpers import attrs, in_memory

QUESTION = {"question": "Where is order 42?"}


def escalating(**changes: Any) -> Flow:
    """The helpers' agent with `escalate: {}`, on the ladder small -> frontier -> human."""
    node = {**AGENT, "escalate": {}, "max_steps": 1, **changes}
    spec = flow_from_dict({"name": "agents", "state": STATE, "nodes": [node]})
    return compile_flow(spec, tiers={"small", "frontier"}, ladder=LADDER, allow_imports=("tests",))


async def test_the_step_limit_sends_the_task_to_the_next_tier() -> None:
    small = dummy(*call("get_order_status", order_id="7"), *call("get_customer", order_id="7"))
    frontier = dummy(*call("get_order_status", order_id="42"), {"tool": "finish"},
                     {"answer": "Order 42 has shipped."})  # fmt: skip
    tracing, exporter = in_memory()
    result = await run_flow(
        escalating(max_steps=2), QUESTION, models=pool(small=small, frontier=frontier),
        tracing=tracing,
    )  # fmt: skip
    assert result.state["answer"] == "Order 42 has shipped."
    assert result.state["outcome"] == "finished"
    assert [s["tool"] for s in result.state["trajectory"]] == ["get_order_status"]
    assert result.usage["escalations"] == 1  # the first frontier call carries the reason
    (node,) = [s for s in exporter.get_finished_spans() if s.name == "node support"]
    assert attrs(node)["stepladder.escalation.final_tier"] == "frontier"
    assert attrs(node)["stepladder.escalation.reasons"] == ("step_limit",)
    (event,) = [e for e in node.events if e.name == "escalation"]
    assert event.attributes is not None
    assert "no answer after 2 step(s)" in str(event.attributes["detail"])


async def test_invalid_output_escalates_and_without_escalate_raises() -> None:
    repeat = call("get_order_status", order_id="42")
    frontier = dummy(*repeat, *repeat, {"answer": "shipped"})
    models = pool(small=dummy({"tool": "drop_tables"}), frontier=frontier)
    result = await run_flow(escalating(max_steps=2), QUESTION, models=models)
    assert result.state["answer"] == "shipped"  # the repeated call went to the answer
    with pytest.raises(NodeOutputError, match="invalid after 1 attempt"):
        plain = escalating(escalate=None)
        await run_flow(plain, QUESTION, models=pool(small=dummy({"tool": "drop_tables"})))


async def test_a_keyless_frontier_is_skipped_and_a_person_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEYLESS, raising=False)
    models = keyless_frontier(small=dummy(*call("get_order_status", order_id="42")))
    db = tmp_path / "checkpoints.sqlite"
    flow = escalating()
    paused = await run_flow(flow, QUESTION, models=models, thread_id="t", checkpoint_db=db)
    assert paused.paused
    (review,) = paused.reviews
    assert (review.node, review.reason, review.candidate_tier) == ("support", "step_limit", "small")
    assert review.candidate == {"answer": None}
    assert "get_order_status" in review.detail
    assert review.schema["properties"]["answer"]
    answer = {review.interrupt_id: {"answer": "It shipped yesterday."}}
    done = await run_flow(flow, None, models=models, thread_id="t", checkpoint_db=db, resume=answer)
    assert done.status == "finished"
    assert done.state["answer"] == "It shipped yesterday."
    assert done.state["outcome"] == "reviewed"
    assert done.usage["calls"] == 0  # the resumed node asks no model again
