"""The agent loop on the real embedded model (SmolLM2-135M on llama.cpp)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from stepladder.flows import run_flow
from tests.agents.helpers import agent_flow
from tests.tracing.spans_helpers import attrs, in_memory, model_calls

pytestmark = pytest.mark.slow
ALLOWED = {"get_order_status", "finish"}


async def test_every_step_is_a_valid_tool_call(embedded_pool: Any) -> None:
    flow = agent_flow(tools=["tests.agents.toolbox:get_order_status"], max_steps=2)
    tracing, exporter = in_memory()
    started = time.perf_counter()
    result = await run_flow(
        flow,
        {"question": "What is the status of order 42?"},
        models=embedded_pool,
        tracing=tracing,
    )
    seconds = time.perf_counter() - started
    calls = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    steps = result.state["trajectory"]
    outcome, answer = result.state["outcome"], result.state["answer"]
    print(f"\nagent: {seconds:.1f} s, {len(calls)} calls, {outcome}, {answer!r}, {steps}")
    assert calls and all(c["gen_ai.usage.output_tokens"] > 0 for c in calls)
    assert all(c.get("stepladder.retries") == 0 for c in calls)  # every step valid at once
    assert {s["tool"] for s in steps} <= ALLOWED
    assert all(s["status"] != "invalid_arguments" for s in steps)  # schema-valid arguments
    assert result.state["outcome"] in ("finished", "step_limit")
