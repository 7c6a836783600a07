"""Per-rung eval runs: `--tier embeddings`, the share each rung answered, and `--adapter`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepladder.errors import ConfigError, UserError
from stepladder.evalsets.results import CaseResult
from stepladder.evalsets.resume import resumed_options
from stepladder.evalsets.run_comparison import compare_runs, render_comparison
from stepladder.evalsets.rungs import rung_shares
from stepladder.testing import arun_eval
from tests.conftest import write_project
from tests.fake_chat import chat_server
from tests.nodes.test_classify_embeddings import project
from tests.retrieval.intents_sample import INTENTS, UNRELATED

MESSAGES = {
    "My new card has not arrived yet": "card_arrival",
    "I forgot my PIN": "change_pin",
    UNRELATED[0]: "card_arrival",
}
LABELS = list(INTENTS)


def rung_project(root: Path, port: int) -> Path:
    """The banking classifier, then the `small` tier when it is unsure (every time)."""
    project(root)
    node = {"id": "intent", "kind": "classify", "using": "embeddings", "classifier": "banking",
            "tier": "small", "reads": ["message"], "output": "intent", "labels": LABELS,
            "escalate": {"min_confidence": {"embeddings": 0.9999}}, "retries": 0}  # fmt: skip
    flow = {"name": "intents", "nodes": [node],
            "state": {"message": {"type": "str", "input": True}, "intent": "str"}}  # fmt: skip
    cases = [{"id": f"c{i}", "inputs": {"message": m}, "expected": {"intent": label}}
             for i, (m, label) in enumerate(MESSAGES.items())]  # fmt: skip
    write_project(
        root,
        {
            "flows/intents.yaml": json.dumps(flow),
            "flows/plain.yaml": "name: plain\nstate:\n  message: {type: str, input: true}\n"
            "  reply: str\nnodes:\n  - {id: reply, kind: generate, tier: small, "
            "reads: [message], output: reply}\n",
            "evalsets/intents.yaml": "name: intents\nflow: intents\ncases: intents.jsonl\n"
            "metrics:\n  intent: label\n",
            "evalsets/intents.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
            "evalsets/plain.yaml": "name: plain\nflow: plain\ncases: intents.jsonl\n"
            "metrics:\n  reply: exact\n",
        },
        "name: test\nstate_dir: state\nladder: [small]\ntiers:\n"
        f'  small: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{port}/v1", '
        "model: s}\n",
    )
    return root / "evalsets/intents.yaml"


async def test_each_rung_alone_and_the_share_each_answered(tmp_path: Path) -> None:
    with chat_server('{"intent": "change_pin"}') as (port, requests):
        spec = rung_project(tmp_path, port)
        ladder = await arun_eval(spec)
        assert len(requests) == 3  # the classifier is never sure enough: the model answers
        alone = await arun_eval(spec, tier="embeddings")
        assert len(requests) == 3  # no model call
        on_small = await arun_eval(spec, tier="small")
    assert alone.record.manifest.tier == "embeddings"
    assert on_small.metric("intent").mean == pytest.approx(1 / 3)
    # alone, the request it does not recognise keeps the classifier's fallback label
    answers = {r.case_id: r.outputs["intent"] for r in alone.record.results}  # any order
    assert answers == {"c0": "card_arrival", "c1": "change_pin", "c2": "oos"}
    assert alone.metric("intent").mean == pytest.approx(2 / 3)
    assert [(s.rung, s.cases, s.share) for s in alone.summary.rungs] == [("embeddings", 3, 1.0)]
    assert [(s.node, s.rung, s.share) for s in ladder.summary.rungs] == [("intent", "small", 1.0)]
    assert all(case.rungs == {"intent": "small"} for case in on_small.record.results)
    comparison = compare_runs(ladder.record, alone.record)
    assert [s.rung for s in comparison.rungs_baseline] == ["small"]
    assert [s.rung for s in comparison.rungs_candidate] == ["embeddings"]
    from rich.console import Console

    console = Console(record=True, width=120)
    render_comparison(comparison, console)
    assert "rung that answered" in console.export_text()


async def test_embeddings_is_a_rung_only_where_a_classifier_is(tmp_path: Path) -> None:
    spec = rung_project(tmp_path, 9)
    with pytest.raises(ConfigError, match=r"flow 'plain' has no node with `using: embeddings`"):
        await arun_eval(spec.with_name("plain.yaml"), tier="embeddings")


def test_shares_are_per_node_over_the_cases_it_answered() -> None:
    cases = [CaseResult(case_id=str(i), rungs=rungs) for i, rungs in enumerate(
        [{"a": "embeddings"}, {"a": "small", "b": "small"}, {"a": "embeddings"}, {}])]  # fmt: skip
    shares = [(s.node, s.rung, s.cases, round(s.share, 3)) for s in rung_shares(cases)]
    assert shares == [
        ("a", "embeddings", 2, 0.667), ("a", "small", 1, 0.333), ("b", "small", 1, 1.0)
    ]  # fmt: skip


def test_a_resumed_run_keeps_its_adapters() -> None:
    from stepladder.evalsets.results import EvalManifest

    manifest = EvalManifest(run_id="r", eval_name="e", spec_path="s", flow="f", metrics=[],
                            started="t", adapters={"intent": "tuned@v1"})  # fmt: skip
    kept = resumed_options({"adapters": None}, manifest)
    assert kept["adapters"] == {"intent": "tuned@v1"}
    with pytest.raises(UserError, match=r"--adapter intent=other .*the run has --adapter intent"):
        resumed_options({"adapters": {"intent": "other"}}, manifest)


def test_adapter_options_are_node_equals_adapter() -> None:
    from stepladder.cli.common import adapters_by_node

    assert adapters_by_node(None) is None
    assert adapters_by_node(["classify=tuned@v2", " reply = r "]) == {
        "classify": "tuned@v2", "reply": "r"}  # fmt: skip
    with pytest.raises(UserError, match="expected NODE=ADAPTER"):
        adapters_by_node(["classify"])
    with pytest.raises(UserError, match="node 'a' is given twice"):
        adapters_by_node(["a=x", "a=y"])
