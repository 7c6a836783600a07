"""Escalation against the real embedded model: SmolLM2 on llama.cpp, then a DummyLM frontier."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stepladder.config.tiers import LlamaCppTier
from stepladder.flows import run_flow
from stepladder.runtimes import ModelPool
from tests.escalation.helpers import CLASSIFY, dummy, flow_of
from tests.tracing.spans_helpers import attrs, by_name, in_memory, model_calls

pytestmark = pytest.mark.slow
LABELS = ["ORDER", "REFUND", "ACCOUNT", "DELIVERY"]
STATE: dict[str, Any] = {
    "message": {"type": "str", "input": True},
    "category": {"type": "enum", "values": LABELS},
    "confidence": "optional[float]",
}


@pytest.fixture(scope="module")
def frontier() -> Any:
    return dummy({"category": "REFUND"})


@pytest.fixture(scope="module")
def models(frontier: Any) -> Iterator[ModelPool]:
    small = LlamaCppTier(runtime="llamacpp", max_tokens=64)
    pool = ModelPool({"small": small}, lms={"frontier": frontier})
    yield pool
    pool.close()


async def test_a_real_confidence_below_the_threshold_escalates(
    models: ModelPool, frontier: Any
) -> None:
    node = {**CLASSIFY, "labels": LABELS, "retries": 1, "escalate": {"min_confidence": 1.0}}
    flow = flow_of(node, ladder=("small", "frontier"), state=STATE)
    message = {"message": "I was charged twice and my parcel never came, what now?"}
    tracing, exporter = in_memory()
    result = await run_flow(flow, message, models=models, tracing=tracing)
    calls = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert [c["stepladder.tier"] for c in calls][-2:] == ["small", "frontier"]
    assert calls[0]["gen_ai.usage.output_tokens"] > 0  # the embedded model really answered
    assert calls[-1]["stepladder.escalation.reason"] == "confidence"
    event = by_name(exporter.get_finished_spans())["node classify"].events[0]
    confidence = float(str(event.attributes["detail"]).split()[1])
    assert 0.0 < confidence < 1.0  # from the server's token log-probabilities
    assert result.state["category"] == "REFUND"  # the frontier's answer
    assert result.usage["escalations"] == 1
    assert len(frontier.history) == 1
