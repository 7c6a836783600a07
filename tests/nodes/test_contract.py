"""The node contract: every registered kind answers it, and building a node reads no file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepladder import FlowCompileError, compile_flow, flow_from_dict
from stepladder.cli import app
from stepladder.flows import FlowSpec, run_flow
from stepladder.nodes import NODE_KINDS, NODE_SPECS, ArtifactRef, NodeSpecBase
from stepladder.nodes import artifacts as artifacts_module
from tests.conftest import write_project

# One valid spec of every kind: a kind added to NODE_SPECS fails here until it has one.
SAMPLES: dict[str, dict[str, Any]] = {
    "function": {"call": "steps:act", "reads": ["message"], "writes": ["reply"]},
    "classify": {"labels": ["a", "b"], "output": "label", "confidence": "sure", "tier": "big"},
    "extract": {"fields": {"order_id": "str"}},
    "generate": {"output": "reply", "escalate": {"to": ["big", "human"]}},
    "retrieve": {"collection": "faq", "query": "message", "output": "passages"},
    "route": {"router": "tiers", "version": 2, "reads": ["message"], "output": "tier"},
    "agent": {"tools": ["lookup", "steps:search"], "output": "reply", "tier_from": "tier"},
    "flow": {"flow": "answer", "inputs": {"text": "message"}, "outputs": {"reply": "answer"}},
}


def sample(kind: str) -> NodeSpecBase:
    return NODE_KINDS[kind].model_validate({"id": "n", "kind": kind, **SAMPLES[kind]})


def test_the_registry_is_the_union_and_the_kinds() -> None:
    assert list(NODE_KINDS) == [spec.kind_name() for spec in NODE_SPECS]
    assert set(NODE_KINDS) == set(SAMPLES)
    schema = FlowSpec.model_json_schema()
    mapping = schema["properties"]["nodes"]["items"]["discriminator"]["mapping"]
    assert set(mapping) == set(NODE_KINDS)
    assert NodeSpecBase.kind_name() == "node"


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_every_kind_answers_the_contract(kind: str) -> None:
    node = sample(kind)
    assert node.kind_name() == kind
    assert isinstance(node.tiers(), frozenset)
    assert isinstance(node.collections(), frozenset)
    assert all(isinstance(name, str) for name in node.tool_names().values())
    assert all(isinstance(ref, ArtifactRef) for ref in node.artifacts())
    assert node.first_rung() is None or isinstance(node.first_rung(), str)
    assert node.confidence_key() is None or node.confidence_key() in node.writes
    pinned = node.pinned("other")
    assert type(pinned) is type(node) and pinned.escalation() is None
    assert pinned.tier_key() is None


def test_each_kind_declares_what_it_uses() -> None:
    assert sample("function").tiers() == frozenset() and sample("function").first_rung() is None
    classify = sample("classify")
    assert classify.tiers() == {"big"} and classify.confidence_key() == "sure"
    assert classify.pinned("small").tiers() == {"small"}
    generate = sample("generate")
    policy = generate.escalation()
    assert generate.first_rung() == "small" and policy is not None and policy.to == ["big", "human"]
    assert sample("retrieve").collections() == {"faq"}
    assert sample("route").artifacts() == (ArtifactRef("router", "tiers", 2, "router"),)
    agent = sample("agent")
    assert agent.tool_names() == {0: "lookup"} and agent.tier_key() == "tier"
    embeddings = NODE_KINDS["classify"].model_validate(
        {"id": "n", "kind": "classify", "using": "embeddings", "classifier": "banking",
         "output": "label", "labels": ["a", "b"]}
    )  # fmt: skip
    assert embeddings.tiers() == frozenset() and embeddings.first_rung() is None
    assert embeddings.artifacts() == (ArtifactRef("classifier", "banking", field="classifier"),)
    assert embeddings.pinned("small").tiers() == {"small"}  # with labels, a model decides


FLOW = {
    "name": "trained",
    "state": {
        "message": {"type": "str", "input": True},
        "seen": "bool",
        "intent": "str",
        "tier": "str",
    },
    "nodes": [
        {"id": "first", "kind": "function", "call": "steps:remember", "reads": ["message"],
         "writes": ["seen"]},
        {"id": "intent", "kind": "classify", "using": "embeddings", "classifier": "banking",
         "reads": ["message"], "output": "intent"},
        {"id": "pick", "kind": "route", "router": "tiers", "reads": ["message"], "output": "tier"},
    ],
}  # fmt: skip


async def test_building_reads_no_artifact_and_a_run_reports_a_missing_one_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(tmp_path / "project", {}, "name: t\nstate_dir: state\n")
    ran: list[str] = []

    def remember(message: str) -> bool:
        ran.append(message)
        return True

    def no_io(*args: object, **kwargs: object) -> None:
        raise AssertionError("looked for an artifact")

    for name in ("lookup_state_dir", "classifier_path", "router_path", "read_manifest"):
        monkeypatch.setattr(artifacts_module, name, no_io)
    flow = compile_flow(
        flow_from_dict(FLOW), project_root=root, objects={"steps:remember": remember}
    )
    with pytest.raises(AssertionError, match="looked for an artifact"):
        flow.prepare()  # the patch holds: only preparing a run looks
    monkeypatch.undo()
    with pytest.raises(
        FlowCompileError,
        match=r"nodes\[1\]\.classifier: no classifier 'banking' .*stepladder classifier train",
    ):
        await run_flow(flow, {"message": "where is my card"})
    assert ran == []  # reported before any node ran
    with pytest.raises(FlowCompileError, match="no classifier 'banking'"):
        flow.invoke({"message": "where is my card"})
    assert ran == []


def test_validate_still_reports_a_missing_router(tmp_path: Path) -> None:
    flow = {
        "name": "routed",
        "state": {"message": {"type": "str", "input": True}, "tier": "str"},
        "nodes": [FLOW["nodes"][2]],
    }
    root = write_project(tmp_path / "project", {"flows/routed.yaml": json.dumps(flow)})
    result = CliRunner().invoke(app, ["--project", str(root), "validate"])
    assert result.exit_code == 2, result.output
    flat = " ".join(result.stderr.split())
    assert "nodes[0].router (" in flat and "no router 'tiers'" in flat
