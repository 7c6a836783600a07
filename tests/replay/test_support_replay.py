"""Replaying the example support eval after changing one node: only what changed runs.

The example project ships the record of its support eval on the real embedded model
(`examples/recordings/support.json`: classify -> extract, classify -> reply). A copy of the
project has one node changed; the calls that run go to DSPy's `DummyLM`.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from dspy.utils.dummies import DummyLM

import stepladder
from stepladder.config import load_project
from stepladder.errors import ReplayMiss
from stepladder.prompts import constrained_adapter
from stepladder.replay import load_record
from stepladder.runtimes import ModelPool
from stepladder.testing import replay_eval
from tests.test_examples import EXAMPLES, example_classifier

RECORDING = "recordings/support.json"
SPEC = "evalsets/support.yaml"
OPTIONS = {"split": "test", "limit": 8, "record": False, "replay": RECORDING}
CLASSIFY_ON_EMBEDDINGS = (
    "    using: embeddings\n",
    "    classifier: support-category\n",
    "    escalate: {min_confidence: {embeddings: 0.5}}\n",
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the example project with its trained classifier."""
    example_classifier()
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".stepladder", "tests"))
    classifiers = EXAMPLES / ".stepladder" / "classifiers"
    shutil.copytree(classifiers, target / ".stepladder" / "classifiers")
    return target


def recorded(root: Path, node: str, key: str) -> dict[str, object]:
    calls = load_record(root / RECORDING).calls
    return {call.case: call.outputs[key] for call in calls if call.node == node}


def edit_flow(root: Path, old: str, new: str) -> None:
    path = root / "flows" / "support.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def project_on(root: Path, answers: dict[str, dict[str, str]]) -> stepladder.Project:
    """The project with its tiers' settings, the small tier answered by a DummyLM."""
    lm = DummyLM(answers, adapter=constrained_adapter())
    models = ModelPool(load_project(root=root).settings.tiers, lms={"small": lm})
    return stepladder.open_project(root, models=models)


def counts(replay: dict[str, object] | None, what: str) -> dict[str, int]:
    assert replay is not None
    nodes = replay["nodes"]
    assert isinstance(nodes, dict)
    return {node: stats[what] for node, stats in nodes.items()}


def test_a_changed_last_node_is_the_only_one_that_runs(root: Path) -> None:
    edit_flow(root, "Write a short, friendly reply", "Write a short, warm reply")
    project = project_on(root, {"fields `reply`": {"reply": "Happy to help!"}})
    result = project.eval(SPEC, **OPTIONS)  # type: ignore[arg-type]
    assert counts(result.replay, "ran") == {"classify": 0, "extract": 0, "reply": 8}
    assert counts(result.replay, "replayed") == {"classify": 8, "extract": 8, "reply": 0}
    assert counts(result.replay, "model_calls") == {"classify": 0, "extract": 0, "reply": 8}
    categories = recorded(root, "classify", "category")
    for case in result.results:
        assert case.outputs["reply"] == "Happy to help!"
        assert case.outputs["category"] == categories[case.case_id]
    total = result.replay["total"]  # type: ignore[index]
    assert total["saved_seconds"] > 0 and total["saved_model_calls"] == 8


def test_a_changed_first_node_reruns_reply_only_where_its_output_changed(root: Path) -> None:
    for line in CLASSIFY_ON_EMBEDDINGS:  # classify asks the small model instead
        edit_flow(root, line, "")
    categories = recorded(root, "classify", "category")
    answer = Counter(categories.values()).most_common(1)[0][0]
    changed = sum(1 for category in categories.values() if category != answer)
    assert 0 < changed < len(categories)
    project = project_on(
        root,
        {"fields `category`": {"category": str(answer)}, "fields `reply`": {"reply": "Hi!"}},
    )
    result = project.eval(SPEC, **OPTIONS)  # type: ignore[arg-type]
    assert counts(result.replay, "ran") == {"classify": 8, "extract": 0, "reply": changed}
    assert counts(result.replay, "replayed") == {"classify": 0, "extract": 8, "reply": 8 - changed}
    replies = recorded(root, "reply", "reply")
    for case in result.results:
        same = categories[case.case_id] == answer
        assert case.outputs["reply"] == (replies[case.case_id] if same else "Hi!")


def test_replay_eval_fails_a_changed_node_naming_it_and_its_changed_part(root: Path) -> None:
    edit_flow(root, "Write a short, friendly reply", "Write a short, warm reply")
    with pytest.raises(ReplayMiss) as caught:
        replay_eval(root / SPEC, RECORDING, split="test", limit=8)
    message = str(caught.value)
    assert caught.value.node_id == "reply" and "8 call(s) not in the record" in message
    assert "its spec and its compiled prompt changed (key parts: spec, prompt)" in message
    assert "node 'classify'" not in message and "node 'extract'" not in message
