"""List metrics for a map node's collected outputs: set precision, recall and F1 with a key;
and the example's multi-question flow, which maps a subflow and is scored by them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from stepladder import EvalSetError
from stepladder.config import load_project
from stepladder.evalsets import EvalCase, MetricContext, build_metrics, load_eval_spec
from stepladder.evalsets.list_metrics import SetMetric, field_key, set_scores
from stepladder.flows import compile_project_flow
from stepladder.runtimes.usage import UsageLedger
from stepladder.specs.references import ReferencePolicy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CASE = EvalCase(id="c1", inputs={})


def test_map_node_set_scores_of_lists() -> None:
    assert set_scores(["a", "b", "c"], ["b", "c", "d", "e"]) == pytest.approx((2 / 3, 0.5, 4 / 7))
    assert set_scores([], []) == (1.0, 1.0, 1.0)
    assert set_scores([], ["a"]) == (1.0, 0.0, 0.0)
    assert set_scores(["a"], []) == (0.0, 1.0, 0.0)
    assert set_scores([" Ms.  Hawkings", "ms. hawkings"], ["MS. HAWKINGS"]) == (1.0, 1.0, 1.0)
    assert set_scores(["A"], ["a"], normalize=False) == (0.0, 0.0, 0.0)
    assert set_scores(None, ["a"]) == (1.0, 0.0, 0.0)


def test_map_node_set_scores_match_items_by_a_key() -> None:
    got = [{"category": "ORDER", "id": 1}, {"category": "REFUND", "id": 2}, {"x": {"y": 3}}]
    wanted = [{"category": "order"}, {"category": "PAYMENT"}]
    precision, recall, _ = set_scores(got, wanted, field_key("category"))
    assert (precision, recall) == (pytest.approx(1 / 3), 0.5)
    assert field_key("x.y")(got[2]) == 3
    dicts = [{"a": [1, 2]}, {"a": [1, 2]}]  # unhashable items compare as JSON
    assert set_scores(dicts, [{"a": [1, 2]}]) == (1.0, 1.0, 1.0)


async def test_map_node_set_metrics_from_an_eval_spec(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "evalsets").mkdir(parents=True)
    (root / "keys.py").write_text("def first_word(item):\n    return item.split()[0]\n")
    (root / "evalsets" / "cases.jsonl").write_text('{"id": "c1", "inputs": {}}\n')
    spec = root / "evalsets" / "t.yaml"
    spec.write_text(
        "name: t\nflow: f\ncases: cases.jsonl\nmetrics:\n"
        "  items: set_f1\n"
        "  items_recall: {kind: set_recall, field: items, key: 'keys:first_word'}\n"
        "  people: {kind: set_precision, key: name, normalize: false}\n"
    )
    metrics = build_metrics(load_eval_spec(spec), ReferencePolicy(root))
    assert [type(m) for m in metrics] == [SetMetric, SetMetric, SetMetric]
    context = MetricContext(models=None, usage=UsageLedger())
    f1, recall, precision = (
        await metrics[0].score(["red apple", "pear"], ["red apple", "fig"], CASE, context),
        await metrics[1].score(["red apple", "green pear"], ["red fig", "pear"], CASE, context),
        await metrics[2].score([{"name": "Ann"}, {"name": "bob"}], [{"name": "Bob"}], CASE,
                               context),
    )  # fmt: skip
    assert (
        f1.value == 0.5 and not f1.binary and f1.detail == "precision 0.500 recall 0.500 F1 0.500"
    )
    assert recall.value == 0.5 and precision.value == 0.0
    sys.modules.pop("keys", None)


def test_map_node_set_metric_key_must_be_callable(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "evalsets").mkdir(parents=True)
    (root / "keys.py").write_text("NOT_A_FUNCTION = 3\n")
    spec = root / "evalsets" / "t.yaml"
    spec.write_text(
        "name: t\nflow: f\ncases: cases.jsonl\nmetrics:\n"
        "  items: {kind: set_f1, key: 'keys:NOT_A_FUNCTION'}\n"
    )
    (root / "evalsets" / "cases.jsonl").write_text('{"id": "c1", "inputs": {}}\n')
    with pytest.raises(EvalSetError, match=r"metrics.items.key \(.*is not callable"):
        build_metrics(load_eval_spec(spec), ReferencePolicy(root))
    sys.modules.pop("keys", None)


def example_steps() -> Any:
    """The example's steps module, loaded from its file (no `flows` package on the path)."""
    path = EXAMPLES / "flows" / "support_steps.py"
    spec = importlib.util.spec_from_file_location("example_support_steps", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_map_node_example_splits_questions_and_merges_answers() -> None:
    steps = example_steps()
    message = "check invoice from Ms. Hawkings. Also where is order 42? help me; ok"
    assert steps.split_questions(message) == [
        "check invoice from Ms. Hawkings",
        "where is order 42",
        "help me",
    ]
    answers = [
        steps.pack_part("where is order 42", "ORDER", "order_id", "42")["answer"],
        steps.pack_part("help me", "CONTACT", None, None)["answer"],
    ]
    merged = steps.merge_answers(answers)
    assert merged["categories"] == ["ORDER", "CONTACT"] and merged["entities"] == ["42"]
    assert "1. ORDER (42): where is order 42" in merged["reply"]


def test_map_node_example_flow_and_eval_set_compile() -> None:
    project = load_project(root=EXAMPLES)
    flow = compile_project_flow(project, "multi_support", compiled=False)
    assert set(flow.subflows) == {"each_question"}
    assert flow.subflows["each_question"].name == "support_part"
    assert flow.tiers == {"small"}
    loaded = load_eval_spec(EXAMPLES / "evalsets" / "multi_support.yaml")
    metrics = build_metrics(loaded, ReferencePolicy(EXAMPLES))
    assert {m.name for m in metrics} >= {"categories", "entities", "answers"}
    assert all(isinstance(m, SetMetric) for m in metrics)
