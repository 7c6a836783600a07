"""`classify` with `using: embeddings`: a trained classifier in a flow, no model tiers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stepladder import FlowCompileError, FlowSpecError, compile_flow, flow_from_dict
from stepladder.flows import Flow, run_flow
from stepladder.retrieval.classifier import save_classifier
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
    with pytest.raises(FlowCompileError, match=r"nodes\[0\]\.labels: .*lacks.*never answers PIZZA"):
        flow_in(root, labels=[*INTENTS[:-1], "oos", "PIZZA"])


def test_a_missing_classifier_is_a_compile_error(root: Path) -> None:
    with pytest.raises(
        FlowCompileError,
        match=r"nodes\[0\]\.classifier: no classifier 'intents'.*Classifiers here: banking.*"
        r"stepladder classifier train intents DATA",
    ):
        flow_in(root, classifier="intents")


def test_a_classifier_outside_a_project_must_be_a_folder(tmp_path: Path) -> None:
    spec = flow_from_dict({"name": "intents", "state": STATE, "nodes": [NODE]})
    with pytest.raises(FlowCompileError, match="belongs to no project"):
        compile_flow(spec)
    spec = flow_from_dict(
        {"name": "intents", "state": STATE, "nodes": [{**NODE, "classifier": str(tmp_path)}]}
    )
    with pytest.raises(FlowCompileError, match="no classifier at"):
        compile_flow(spec)


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
