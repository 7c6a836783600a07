"""Traces of real runs: a retrieval against a Chroma store and calls to the embedded model."""

import json
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind

from stepladder import FlowBuilder, compile_flow, flow_from_dict
from stepladder.flows import run_flow
from stepladder.retrieval.ingest import ingest
from tests.retrieval.embedded import store_in
from tests.tracing.spans_helpers import attrs, by_name, in_memory, model_calls, parent_of, span_id


async def test_a_retrieval_is_a_span_under_its_node(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    docs = tmp_path / "help.jsonl"
    docs.write_text(
        json.dumps({"id": "r1", "text": "Refunds reach your card within five days."}) + "\n"
        + json.dumps({"id": "s1", "text": "Parcels ship within two days."}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    ingest(store, "help", [docs], id_field="id")
    flow = (
        FlowBuilder("helpdesk")
        .state("question", str, input=True)
        .state("passages", "list[dict]")
        .node({"id": "search", "kind": "retrieve", "collection": "help", "query": "question",
               "output": "passages", "k": 2})
        .compile()
    )  # fmt: skip
    tracing, exporter = in_memory()
    await run_flow(flow, {"question": "when is my money back?"}, store=store, tracing=tracing)
    spans = by_name(exporter.get_finished_spans())
    search = spans["retrieve help"]
    assert parent_of(search) == span_id(spans["node search"])
    assert search.kind is SpanKind.CLIENT
    found = attrs(search)
    assert found["stepladder.collection"] == "help"
    assert found["stepladder.k"] == 2 and found["stepladder.results"] == 2
    assert found["stepladder.input"] == "when is my money back?"
    assert found["stepladder.output"].startswith("[[")


async def test_embedded_model_calls_carry_tokens_and_a_machine_cost(embedded_pool: Any) -> None:
    spec = flow_from_dict(
        {
            "name": "sentiment",
            "state": {"text": {"type": "str", "input": True},
                      "mood": {"type": "enum", "values": ["positive", "negative"]}},
            "nodes": [{"id": "mood", "kind": "classify", "reads": ["text"], "output": "mood",
                       "labels": ["positive", "negative"]}],
        }
    )  # fmt: skip
    tracing, exporter = in_memory()
    result = await run_flow(
        compile_flow(spec, tiers={"small"}),
        {"text": "I love this, it works perfectly!"},
        models=embedded_pool,
        tracing=tracing,
    )
    [call] = model_calls(exporter.get_finished_spans())
    found = attrs(call)
    assert found["gen_ai.usage.input_tokens"] > 10
    assert found["gen_ai.usage.output_tokens"] > 0
    assert found["stepladder.cost.basis"] == "machine-tokens"
    assert 0 < found["stepladder.cost_usd"] < 0.001
    compact = json.dumps({"mood": result.state["mood"]}, separators=(",", ":"))
    assert found["stepladder.output"] == compact
    run = attrs(by_name(exporter.get_finished_spans())["run sentiment"])
    assert run["stepladder.cost_usd"] == found["stepladder.cost_usd"]
    assert run["stepladder.usage.input_tokens"] == found["gen_ai.usage.input_tokens"]
    assert "gen_ai.usage.input_tokens" not in run  # tools sum gen_ai.usage over all spans
