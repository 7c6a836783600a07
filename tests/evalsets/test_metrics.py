"""Each metric kind's arithmetic, function references, and the LLM judge (DummyLM and real)."""

from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from dspy.utils.dummies import DummyLM
from pydantic import BaseModel

from stepladder import EvalSetError
from stepladder.errors import ModelError
from stepladder.evalsets import (
    EvalCase,
    JudgeMetric,
    Metric,
    MetricContext,
    MetricScore,
    build_metrics,
    load_eval_spec,
    score_case,
    token_f1,
)
from stepladder.evalsets.judge import NO_VERDICT
from stepladder.evalsets.reference_metrics import (
    ContainsMetric,
    ExactMetric,
    JsonFieldsMetric,
    LabelMetric,
    NumericMetric,
    TokenF1Metric,
    ToolCallsMetric,
    parse_number,
)
from stepladder.prompts import constrained_adapter
from stepladder.runtimes import ModelPool
from stepladder.runtimes.usage import UsageLedger
from stepladder.specs.references import ReferencePolicy

CASE = EvalCase(id="c1", inputs={"message": "refund order 5512"})


class Category(Enum):
    ORDER = "order"
    REFUND = "refund"


class Entity(BaseModel):
    kind: str
    value: str
    amount: float | None = None


def context(models: ModelPool | None = None) -> MetricContext:
    return MetricContext(models=models, usage=UsageLedger())


async def score(metric: Metric, output: Any, expected: Any) -> MetricScore:
    return await metric.score(output, expected, CASE, context())


async def test_exact_normalizes_strings_unless_told_not_to() -> None:
    exact = ExactMetric("reply", "reply")
    assert (await score(exact, "  Hello World ", "hello world")).value == 1.0
    assert (await score(exact, ["A", {"k": " B"}], ["a", {"k": "b"}])).value == 1.0
    assert (await score(exact, Category.ORDER, "Order")).value == 1.0  # its value, "order"
    strict = ExactMetric("reply", "reply", normalize=False)
    miss = await score(strict, "Hello", "hello")
    assert (miss.value, miss.binary, miss.detail) == (0.0, True, "got 'Hello', expected 'hello'")
    assert (await score(strict, 3, 3.0)).value == 1.0
    assert (await score(strict, Category.ORDER, "ORDER")).value == 0.0
    assert (await score(strict, Category.ORDER, "order")).value == 1.0


async def test_label_ignores_case_and_uses_enum_values() -> None:
    label = LabelMetric("category", "category")
    assert (await score(label, "refund", "REFUND")).value == 1.0
    assert (await score(label, Category.REFUND, "REFUND")).value == 1.0
    assert (await score(label, "order", ["REFUND", "ORDER"])).value == 1.0
    wrong = await score(label, None, "ORDER")
    assert wrong.value == 0.0 and "got None" in wrong.detail


async def test_expected_null_wants_no_value() -> None:
    label = LabelMetric("category", "category")
    assert (await score(label, None, None)).value == 1.0
    missed = await score(label, "ORDER", None)
    assert (missed.value, missed.detail) == (0.0, "expected no value, got 'ORDER'")


def test_token_f1_against_hand_computed_values() -> None:
    # predicted: cat sat on mat (articles and punctuation go); expected: cat sat on red mat.
    # 4 shared tokens: precision 4/4, recall 4/5, F1 = 2 * 1 * 0.8 / 1.8 = 8/9.
    assert token_f1("The cat sat on the mat.", "A cat sat on a red mat") == pytest.approx(8 / 9)
    # Shared tokens count multiplicity: hello x1, world x1 -> P = R = 2/3.
    assert token_f1("hello hello world", "hello world world") == pytest.approx(2 / 3)
    assert token_f1("Don't!", "dont") == 1.0
    assert token_f1("", "") == 1.0
    assert token_f1("the", "cat") == 0.0
    assert token_f1("blue", "red") == 0.0


async def test_token_f1_metric_is_not_binary_and_takes_the_best_reference() -> None:
    metric = TokenF1Metric("answer", "answer")
    assert metric.binary is False
    result = await score(metric, "The cat sat on the mat.", ["dog", "A cat sat on a red mat"])
    assert result.value == pytest.approx(8 / 9)
    assert result.binary is False and result.detail == "token F1 0.889"


async def test_contains_all_or_any() -> None:
    every = ContainsMetric("reply", "reply")
    text = "We will REFUND order 5512 within  5 days."
    assert (await score(every, text, "refund order")).value == 1.0
    assert (await score(every, text, ["refund", "5512", "within 5 days"])).value == 1.0
    missing = await score(every, text, ["refund", "7 days", "sorry"])
    assert missing.value == 0.0 and missing.detail == "missing: '7 days', 'sorry'"
    any_of = ContainsMetric("reply", "reply", all=False)
    assert (await score(any_of, text, ["sorry", "5512"])).value == 1.0
    assert (await score(any_of, text, ["sorry", "apolog"])).value == 0.0
    exact_case = ContainsMetric("reply", "reply", normalize=False)
    assert (await score(exact_case, text, "refund")).value == 0.0


async def test_tool_calls_wants_each_expected_call_in_the_trajectory() -> None:
    metric = ToolCallsMetric("steps", "steps")
    steps = [
        {"step": 1, "tool": "lookup", "arguments": {"id": 7}, "observation": "x", "status": "ok"},
        {"step": 2, "tool": "policy", "arguments": {}, "observation": "y", "status": "ok"},
    ]
    gold = [{"tool": "lookup", "arguments": {"id": 7}, "observation": "other text"}]
    assert (await score(metric, steps, gold)).value == 1.0  # observations are not compared
    assert (await score(metric, steps, {"tool": "policy"})).value == 1.0  # any arguments
    wrong = await score(metric, steps, [*gold, {"tool": "lookup", "arguments": {"id": 8}}])
    assert wrong.value == 0.0 and wrong.detail == 'not called: lookup({"id": 8})'
    assert (await score(metric, None, gold)).value == 0.0


def test_parse_number() -> None:
    assert parse_number("$1,234.50 in total") == 1234.5
    assert parse_number("-3e2") == -300.0
    assert parse_number(".5") == 0.5
    assert parse_number(7) == 7.0
    assert parse_number("no digits") is None
    assert parse_number(True) is None
    assert parse_number(None) is None


async def test_numeric_tolerance_absolute_and_relative() -> None:
    exact = NumericMetric("amount", "amount")
    assert (await score(exact, "0.30", 0.1 + 0.2)).value == 1.0
    assert (await score(exact, 10.01, 10)).value == 0.0
    absolute = NumericMetric("amount", "amount", tolerance=0.5)
    assert (await score(absolute, "USD 10.5", 10)).value == 1.0
    far = await score(absolute, 10.6, "10")
    assert far.value == 0.0 and far.detail == "got 10.6, expected 10 (off by 0.6)"
    relative = NumericMetric("amount", "amount", tolerance=0.1, relative=True)
    assert (await score(relative, 1090, 1000)).value == 1.0
    assert (await score(relative, 1110, 1000)).value == 0.0
    assert (await score(absolute, "none", 3)).detail == "no number in the output 'none'"
    assert (await score(absolute, 3, "many")).detail == "expected 'many' is not a number"


async def test_json_fields_share_of_matching_fields() -> None:
    metric = JsonFieldsMetric("entity", "entity", ("kind", "value", "amount"))
    assert metric.binary is False
    expected = {"kind": "order_id", "value": "5512", "amount": 12.5}
    two_of_three = await score(metric, {"kind": "order_id", "value": "5512", "amount": 3}, expected)
    assert two_of_three.value == pytest.approx(2 / 3)
    assert two_of_three.detail == "mismatched: amount" and two_of_three.binary is False
    as_json = '{"kind": "order_id", "value": "9", "amount": 12.5}'
    assert (await score(metric, as_json, expected)).value == pytest.approx(2 / 3)
    model = Entity(kind="order_id", value="5512", amount=12.5)
    assert (await score(metric, model, expected)).value == 1.0
    assert (await score(metric, {"kind": "order_id"}, expected)).value == pytest.approx(1 / 3)
    not_json = await score(metric, "not json", expected)
    assert not_json.value == 0.0 and "is not an object" in not_json.detail


async def test_json_fields_with_one_field_and_dotted_paths() -> None:
    metric = JsonFieldsMetric("city", "address", ("address.city",))
    assert metric.binary is True
    output = {"address": {"city": "Oslo", "zip": "0150"}}
    result = await score(metric, output, {"address": {"city": "Oslo"}})
    assert (result.value, result.binary) == (1.0, True)
    assert (await score(metric, {"address": {}}, {"address": {"city": "Oslo"}})).value == 0.0


async def test_score_case_skips_metrics_without_an_expected_value() -> None:
    metrics: list[Metric] = [
        LabelMetric("category", "category"),
        ExactMetric("order", "order_id"),
        NumericMetric("amount", "amount"),
    ]
    case = EvalCase(id="c", inputs={}, expected={"category": "ORDER", "order_id": None})
    outputs = {"category": "order", "order_id": "5512", "amount": 3}
    scores = await score_case(metrics, outputs, case, context())
    assert list(scores) == ["category", "order"]
    assert scores["category"].value == 1.0 and scores["order"].value == 0.0


# --- function metrics -----------------------------------------------------------------------

METRICS_MODULE = """
from stepladder.evalsets import MetricScore

def same(output, expected, case):
    return output == expected

async def half(output, expected, case):
    return 0.5

def scored(output, expected, case):
    return MetricScore(value=0.25, binary=False, detail=case.id)

def too_big(output, expected, case):
    return 2

def two_args(output, expected):
    return True

def flexible(*args):
    return 1

NOT_CALLABLE = 3
"""


def project(tmp_path: Path, metrics: str) -> tuple[Path, Path]:
    root = tmp_path / "proj"
    (root / "evalsets").mkdir(parents=True)
    (root / "eval_metric_fns.py").write_text(METRICS_MODULE, encoding="utf-8")
    (root / "evalsets" / "cases.jsonl").write_text('{"id": "c1", "inputs": {}}\n')
    spec = f"name: t\nflow: f\ncases: cases.jsonl\nmetrics:\n{metrics}"
    (root / "evalsets" / "t.yaml").write_text(spec, encoding="utf-8")
    return root, root / "evalsets" / "t.yaml"


def function_metrics(tmp_path: Path, *calls: str) -> list[Metric]:
    body = "".join(
        f"  m{i}:\n    kind: function\n    field: x\n    call: eval_metric_fns:{c}\n"
        for i, c in enumerate(calls)
    )
    root, spec = project(tmp_path, body)
    return build_metrics(load_eval_spec(spec), ReferencePolicy(root))


async def test_function_metrics_sync_async_and_scores(tmp_path: Path) -> None:
    same, half, scored, flexible = function_metrics(tmp_path, "same", "half", "scored", "flexible")
    assert (same.name, same.field) == ("m0", "x")
    assert await score(same, "a", "a") == MetricScore(value=1.0, binary=True)
    assert await score(same, "a", "b") == MetricScore(value=0.0, binary=True)
    assert await score(half, "a", "b") == MetricScore(value=0.5, binary=False)
    assert await score(scored, "a", "b") == MetricScore(value=0.25, binary=False, detail="c1")
    assert (await score(flexible, 1, 2)).value == 1.0


async def test_function_returning_out_of_range_is_an_error(tmp_path: Path) -> None:
    (too_big,) = function_metrics(tmp_path, "too_big")
    with pytest.raises(EvalSetError, match=r"'eval_metric_fns:too_big' returned 2.0; scores"):
        await score(too_big, 1, 1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("two_args", r"takes \(output, expected\), but a metric function is called with three"),
        ("NOT_CALLABLE", r"'eval_metric_fns:NOT_CALLABLE' is not callable \(type int\)"),
        ("missing", r"'missing' not found in eval_metric_fns"),
    ],
)
def test_bad_function_references_name_the_yaml_path(
    tmp_path: Path, call: str, message: str
) -> None:
    with pytest.raises(EvalSetError, match=message) as caught:
        function_metrics(tmp_path, call)
    assert "metrics.m0.call (" in str(caught.value) and "line 8)" in str(caught.value)


def test_references_outside_the_project_are_refused(tmp_path: Path) -> None:
    body = "  m:\n    kind: function\n    call: json:dumps\n"
    root, spec = project(tmp_path, body)
    with pytest.raises(EvalSetError, match=r"metrics.m.call \(.*refused: module 'json'"):
        build_metrics(load_eval_spec(spec), ReferencePolicy(root))


def test_build_metrics_makes_one_metric_per_kind(tmp_path: Path) -> None:
    body = (
        "  category: label\n  reply: exact\n  answer: token_f1\n"
        "  amount: {kind: numeric, tolerance: 0.5, relative: true}\n"
        "  mentions: {kind: contains, field: reply, all: false}\n"
        "  entity: {kind: json_fields, fields: [kind, value]}\n"
        "  polite: {kind: judge, field: reply, rubric: Polite., tier: big}\n"
    )
    root, spec = project(tmp_path, body)
    metrics = build_metrics(load_eval_spec(spec), ReferencePolicy(root))
    kinds = [type(m).__name__ for m in metrics]
    assert kinds == [
        "LabelMetric",
        "ExactMetric",
        "TokenF1Metric",
        "NumericMetric",
        "ContainsMetric",
        "JsonFieldsMetric",
        "JudgeMetric",
    ]
    assert metrics[3] == NumericMetric("amount", "amount", 0.5, True)
    assert metrics[4] == ContainsMetric("mentions", "reply", all=False)
    assert metrics[6] == JudgeMetric("polite", "reply", "big", "Polite.")
    assert [m.binary for m in metrics] == [True, True, False, True, True, False, True]


# --- the judge --------------------------------------------------------------------------------


def judge_pool(*answers: dict[str, Any]) -> tuple[ModelPool, DummyLM]:
    lm = DummyLM(list(answers), adapter=constrained_adapter())
    return ModelPool({}, lms={"small": lm}), lm


JUDGE = JudgeMetric("polite", "reply", "small", "Polite, and says what happens next.")


async def test_judge_pass_with_reason_and_usage_record() -> None:
    models, lm = judge_pool({"passed": True, "reason": "It is polite and gives a date."})
    scoring = context(models)
    result = await JUDGE.score("We refund you by Friday.", "A refund by Friday.", CASE, scoring)
    assert result == MetricScore(value=1.0, binary=True, detail="It is polite and gives a date.")
    (call,) = scoring.usage.snapshot()
    assert (call.node_id, call.tier, call.attempt, call.ok) == ("judge:polite", "small", 1, True)
    assert call.seconds >= 0 and call.cost_basis
    sent = lm.history[0]
    schema = sent["kwargs"]["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]) == {"passed", "reason"}
    user = str(sent["messages"][-1]["content"])
    assert '{"message": "refund order 5512"}' in user
    assert "We refund you by Friday." in user and "A refund by Friday." in user
    assert "Polite, and says what happens next." in user


async def test_judge_fail_scores_zero() -> None:
    models, _ = judge_pool({"passed": False, "reason": "It is rude."})
    result = await JUDGE.score("Go away.", None, CASE, context(models))
    assert (result.value, result.detail) == (0.0, "It is rude.")


async def test_judge_retries_garbage_once() -> None:
    models, lm = judge_pool(
        {"passed": "perhaps", "reason": "hmm"}, {"passed": True, "reason": "Fine."}
    )
    scoring = context(models)
    result = await JUDGE.score("ok", "ok", CASE, scoring)
    assert (result.value, result.detail) == (1.0, "Fine.")
    calls = scoring.usage.snapshot()
    assert [(c.attempt, c.ok) for c in calls] == [(1, False), (2, True)]
    assert lm.history[1]["kwargs"]["temperature"] > 0


async def test_judge_without_a_valid_verdict_scores_zero() -> None:
    models, _ = judge_pool({"verdict": "yes"}, {"passed": True, "reason": "  "})
    scoring = context(models)
    result = await JUDGE.score("ok", "ok", CASE, scoring)
    assert result == MetricScore(value=0.0, binary=True, detail=NO_VERDICT)
    assert [(c.node_id, c.ok) for c in scoring.usage.snapshot()] == [
        ("judge:polite", False),
        ("judge:polite", False),
    ]


async def test_judge_needs_models() -> None:
    with pytest.raises(ModelError, match="needs the judge tier 'small'"):
        await JUDGE.score("ok", "ok", CASE, context())


@pytest.mark.slow
async def test_judge_on_the_embedded_model(embedded_pool: Any) -> None:
    scoring = context(embedded_pool)
    case = EvalCase(id="r1", inputs={"message": "Where is my order 5512?"})
    answer = "Your order 5512 left our warehouse today and arrives on Friday."
    result = await JUDGE.score(answer, "It is on its way.", case, scoring)
    assert result.value in (0.0, 1.0) and result.binary
    assert result.detail.strip()
    calls = scoring.usage.snapshot()
    assert calls and calls[0].node_id == "judge:polite"
    assert calls[0].prompt_tokens > 0 and calls[0].completion_tokens > 0
