"""`classify` with `using: embeddings`: a trained classifier in a flow, no model tiers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepladder import FlowCompileError, FlowSpecError, compile_flow, flow_from_dict
from stepladder.flows import Flow, run_flow
from stepladder.predictors.classifier.model import save_classifier
from tests.conftest import write_project
from tests.retrieval.intents_sample import INTENTS, UNRELATED, trained

STATE = {
    "message": {"type": "str", "input": True},
    "intent": "str",
    "confidence": "optional[float]",
}
NODE = {
    "id": "intent",
    "kind": "classify",
    "using": "embeddings",
    "classifier": "banking",
    "reads": ["message"],
    "output": "intent",
    "confidence": "confidence",
}


def project(root: Path) -> Path:
    """A project whose state folder holds the sample classifier as banking@v1."""
    write_project(root, {}, settings="name: test\nstate_dir: state\n")
    save_classifier(trained()[0].classifier, root / "state")
    return root


def flow_in(root: Path, **changes: Any) -> Flow:
    node = {k: v for k, v in {**NODE, **changes}.items() if v is not None}
    spec = flow_from_dict({"name": "intents", "state": STATE, "nodes": [node]})
    return compile_flow(spec, project_root=root, tiers={"small"})


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project(tmp_path_factory.mktemp("classify") / "project")


async def test_labels_requests_without_model_tiers(root: Path) -> None:
    flow = flow_in(root)
    assert flow.tiers == set()  # the node's default tier is not used
    result = await run_flow(flow, {"message": "My new card has not arrived yet"})  # no ModelPool
    assert result.state["intent"] == "card_arrival"
    assert 0.5 < result.state["confidence"] <= 1.0
    unrelated = flow.invoke({"message": UNRELATED[0]})  # the node also runs synchronously
    assert unrelated["intent"] == "oos"


def test_node_fallback_and_labels_are_checked_against_the_classifier(root: Path) -> None:
    labels = [*INTENTS, "UNKNOWN"]
    flow = flow_in(root, fallback="UNKNOWN", labels=labels, classifier="banking@v1")
    assert flow.invoke({"message": UNRELATED[1]})["intent"] == "UNKNOWN"
    assert flow.invoke({"message": ""})["intent"] == "UNKNOWN"  # nothing to classify
    flow = flow_in(root, labels=[*INTENTS[:-1], "oos", "PIZZA"])  # checked when a run starts
    with pytest.raises(FlowCompileError, match=r"nodes\[0\]\.labels: .*lacks.*never answers PIZZA"):
        flow.prepare()


async def test_a_missing_classifier_is_reported_when_the_run_starts(root: Path) -> None:
    flow = flow_in(root, classifier="intents")  # building reads no file
    with pytest.raises(
        FlowCompileError,
        match=r"nodes\[0\]\.classifier: no classifier 'intents'.*Classifiers here: banking.*"
        r"stepladder classifier train intents DATA",
    ):
        await run_flow(flow, {"message": "My new card has not arrived yet"})


def test_a_classifier_outside_a_project_must_be_a_folder(tmp_path: Path) -> None:
    spec = flow_from_dict({"name": "intents", "state": STATE, "nodes": [NODE]})
    with pytest.raises(FlowCompileError, match="belongs to no project"):
        compile_flow(spec).prepare()
    spec = flow_from_dict(
        {"name": "intents", "state": STATE, "nodes": [{**NODE, "classifier": str(tmp_path)}]}
    )
    with pytest.raises(FlowCompileError, match="no classifier at"):
        compile_flow(spec).prepare()


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"classifier": None}, "needs `classifier`"),
        ({"using": "llm", "labels": ["a", "b"]}, "only apply with `using: embeddings`"),
        ({"using": "llm", "classifier": None}, "`labels` is required"),
        ({"demos": [{"message": "x", "intent": "card_arrival"}]}, "do not apply"),
    ],
)
def test_spec_errors(changes: dict[str, Any], problem: str) -> None:
    node = {k: v for k, v in {**NODE, **changes}.items() if v is not None}
    with pytest.raises(FlowSpecError, match=problem):
        flow_from_dict({"name": "intents", "state": STATE, "nodes": [node]})


def enum_flow(values: list[str], **changes: Any) -> dict[str, Any]:
    """The flow, with its `intent` key an enum of `values`."""
    node = {k: v for k, v in {**NODE, **changes}.items() if v is not None}
    state = {**STATE, "intent": {"type": "enum", "values": values}}
    return {"name": "intents", "state": state, "nodes": [node]}


def test_a_fallback_label_outside_the_enum_it_writes_is_a_compile_error(root: Path) -> None:
    spec = flow_from_dict(enum_flow(list(INTENTS)))
    with pytest.raises(
        FlowCompileError,
        match=r"nodes\[0\]\.output: node 'intent' can write label\(s\) oos \(its fallback\) into "
        rf"state key 'intent', an enum whose values are: {', '.join(INTENTS)}\. Add",
    ):
        compile_flow(spec, project_root=root, tiers={"small"}).prepare()
    labels = list(INTENTS[:2])
    spec = flow_from_dict(enum_flow(labels, fallback="UNKNOWN"))
    with pytest.raises(
        FlowCompileError, match=r"label\(s\) change_pin, .*UNKNOWN \(its fallback\)"
    ):
        compile_flow(spec, project_root=root, tiers={"small"}).prepare()
    flow = compile_flow(flow_from_dict(enum_flow([*INTENTS, "oos"])), project_root=root)
    assert flow.invoke({"message": UNRELATED[0]})["intent"] == "oos"


def test_an_escalating_classifier_is_checked_against_the_labels_its_ladder_answers(
    root: Path,
) -> None:
    escalate = {"min_confidence": {"embeddings": 0.5}, "to": ["small"]}
    spec = flow_from_dict(enum_flow(list(INTENTS), labels=list(INTENTS), escalate=escalate))
    compile_flow(spec, project_root=root, tiers={"small"}, ladder=["small"]).prepare()  # no `oos`
    spec = flow_from_dict(enum_flow(list(INTENTS), escalate=escalate))
    with pytest.raises(FlowCompileError, match=r"label\(s\) oos \(its fallback\) into state key"):
        compile_flow(spec, project_root=root, tiers={"small"}, ladder=["small"]).prepare()


def test_validate_reports_the_fallback_outside_the_enum(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stepladder.cli import app

    root = project(tmp_path / "project")
    flow = enum_flow(list(INTENTS))
    (root / "flows").mkdir()
    (root / "flows" / "intents.yaml").write_text(json.dumps(flow), encoding="utf-8")
    result = CliRunner().invoke(app, ["--project", str(root), "validate"])
    assert result.exit_code == 2, result.output
    flat = " ".join(result.stderr.split())
    assert "can write label(s) oos (its fallback) into state key 'intent'" in flat
    assert f"enum whose values are: {', '.join(INTENTS)}" in flat


def test_a_lone_classifier_may_write_its_confidence_into_a_float_key(root: Path) -> None:
    state = {**STATE, "confidence": "float"}
    spec = flow_from_dict({"name": "intents", "state": state, "nodes": [NODE]})
    flow = compile_flow(spec, project_root=root)
    assert isinstance(flow.invoke({"message": UNRELATED[0]})["confidence"], float)
    escalate = {"min_confidence": {"embeddings": 0.5}, "to": ["small"]}
    spec = flow_from_dict(
        {"name": "intents", "state": state, "nodes": [{**NODE, "escalate": escalate}]}
    )
    with pytest.raises(FlowCompileError, match=r"declare the key optional\[float\]"):
        compile_flow(spec, project_root=root, tiers={"small"}, ladder=["small"])
