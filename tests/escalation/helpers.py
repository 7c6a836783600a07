"""Flows and model pools for escalation tests (DummyLM tiers, a key-less frontier tier)."""

from __future__ import annotations

from typing import Any

from dspy.utils.dummies import DummyLM

from stepladder import compile_flow, flow_from_dict
from stepladder.config.tiers import LiteLLMTier
from stepladder.flows import Flow
from stepladder.prompts import constrained_adapter
from stepladder.runtimes import ModelPool

LADDER = ("small", "frontier", "human")
KEYLESS = "STEPLADDER_TEST_UNSET_KEY"
STATE: dict[str, Any] = {
    "message": {"type": "str", "input": True},
    "route": "optional[str]",
    "category": {"type": "enum", "values": ["ORDER", "REFUND"]},
    "confidence": "optional[float]",
    "order_id": "optional[str]",
    "reply": "str",
}
GENERATE: dict[str, Any] = {
    "id": "reply",
    "kind": "generate",
    "reads": ["message"],
    "output": "reply",
    "max_chars": 20,
    "retries": 0,
}
EXTRACT: dict[str, Any] = {
    "id": "extract",
    "kind": "extract",
    "reads": ["message"],
    "fields": {"order_id": "str"},
    "retries": 0,
}
CLASSIFY: dict[str, Any] = {
    "id": "classify",
    "kind": "classify",
    "reads": ["message"],
    "labels": ["ORDER", "REFUND"],
    "output": "category",
    "confidence": "confidence",
    "retries": 0,
}


def flow_of(
    *nodes: dict[str, Any],
    ladder: tuple[str, ...] = LADDER,
    tiers: set[str] | None = None,
    state: dict[str, Any] | None = None,
) -> Flow:
    """A flow of `nodes` in order, compiled with the ladder."""
    spec = flow_from_dict({"name": "esc", "state": state or STATE, "nodes": list(nodes)})
    return compile_flow(
        spec, tiers=tiers or {"small", "frontier", "judge"}, ladder=ladder,
        allow_imports=("tests",),
    )  # fmt: skip


def dummy(*answers: dict[str, Any]) -> DummyLM:
    """A DummyLM giving `answers` in turn through the constrained-JSON adapter."""
    return DummyLM(list(answers), adapter=constrained_adapter())


def pool(**lms: DummyLM) -> ModelPool:
    """Tiers answered by DummyLMs, by tier name."""
    return ModelPool({}, lms=lms)


def keyless_frontier(**lms: DummyLM) -> ModelPool:
    """`frontier` is an API tier whose key variable is not set; the others are DummyLMs."""
    frontier = LiteLLMTier(runtime="litellm", model="openai/gpt-4.1-mini", api_key_env=KEYLESS)
    return ModelPool({"frontier": frontier}, lms=lms)
