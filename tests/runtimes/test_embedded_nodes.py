"""Each LLM node kind against the real embedded model (SmolLM2-135M on llama.cpp)."""

from typing import Any

import pytest

from stepladder import compile_flow, flow_from_dict
from stepladder.flows import run_flow

pytestmark = pytest.mark.slow

LABELS = ["ORDER", "REFUND", "ACCOUNT", "DELIVERY"]
STATE: dict[str, Any] = {
    "message": {"type": "str", "input": True},
    "category": {"type": "enum", "values": LABELS},
    "confidence": "optional[float]",
    "order_id": "optional[str]",
    "quantity": "optional[int]",
    "reply": "str",
}


def flow(node: dict[str, Any]) -> Any:
    spec = flow_from_dict({"name": "real", "state": STATE, "nodes": [node]})
    return compile_flow(spec, tiers={"small"})


MESSAGE = {"message": "how can I cancel purchase 113542617735902?"}


async def test_classify_gives_a_label_and_a_confidence(embedded_pool: Any) -> None:
    node = {
        "id": "classify",
        "kind": "classify",
        "reads": ["message"],
        "labels": LABELS,
        "output": "category",
        "confidence": "confidence",
    }
    result = await run_flow(flow(node), MESSAGE, models=embedded_pool)
    assert result.state["category"] in LABELS
    assert 0.0 < result.state["confidence"] <= 1.0
    assert result.usage["prompt_tokens"] > 0
    assert result.usage["completion_tokens"] > 0


async def test_extract_gives_typed_fields(embedded_pool: Any) -> None:
    node = {
        "id": "extract",
        "kind": "extract",
        "reads": ["message"],
        "fields": {
            "order_id": {"type": "str", "description": "the order number", "max_chars": 30},
            "quantity": {"type": "int", "description": "how many items, null if not said"},
        },
    }
    result = await run_flow(flow(node), MESSAGE, models=embedded_pool)
    order_id, quantity = result.state["order_id"], result.state["quantity"]
    assert order_id is None or (isinstance(order_id, str) and len(order_id) <= 30)
    assert quantity is None or isinstance(quantity, int)


async def test_generate_respects_the_length_limit(embedded_pool: Any) -> None:
    node = {
        "id": "reply",
        "kind": "generate",
        "reads": ["message"],
        "output": "reply",
        "instructions": "Write a one-sentence reply to the customer.",
        "max_chars": 120,
    }
    result = await run_flow(flow(node), MESSAGE, models=embedded_pool)
    assert isinstance(result.state["reply"], str)
    assert 0 < len(result.state["reply"]) <= 120


async def test_extract_max_chars_caps_an_optional_text_in_the_grammar(embedded_pool: Any) -> None:
    """`max_chars` of an optional[str] field reaches the server's grammar (no retry allowed)."""
    node = {
        "id": "extract",
        "kind": "extract",
        "reads": ["message"],
        "instructions": "Copy the whole message, word for word, into `order_id`.",
        "fields": {"order_id": {"type": "optional[str]", "max_chars": 8}},
        "retries": 0,
    }
    result = await run_flow(flow(node), MESSAGE, models=embedded_pool)
    order_id = result.state["order_id"]
    assert order_id is None or (isinstance(order_id, str) and len(order_id) <= 8)
    assert result.usage["retries"] == 0
