"""Eval results that explain themselves: worst cases with their values, per-label tables and
confusion matrices, expected nulls as an explicit option reported apart, unscored outputs kept.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from stepladder.errors import EvalSetError
from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.html_report import report_html
from stepladder.evalsets.metric_base import MetricContext
from stepladder.evalsets.metrics import build_metrics, score_case
from stepladder.evalsets.report import EvalSummary, render_summary, summarize
from stepladder.evalsets.results import CaseResult, EvalRunRecord, MetricScore
from stepladder.evalsets.spec import load_eval_spec
from stepladder.runtimes.usage import UsageLedger
from stepladder.specs.references import ReferencePolicy
from stepladder.testing import arun_eval
from tests.conftest import write_project
from tests.evalsets.runs import HOSTILE, case, write_run
from tests.evalsets.test_report import Page


def labelled(case_id: str, expected: str | None, got: str | None, *, ok: bool = True) -> CaseResult:
    """A case of metric `intent` (kind label) on state key `category`."""
    passed = got is not None and expected is not None and got.casefold() == expected.casefold()
    passed = passed or (expected is None and got is None)
    detail = "" if passed else f"got {got!r}, expected {expected!r}"
    scores = {"intent": MetricScore(value=float(passed), detail=detail)} if ok else {}
    return CaseResult(
        case_id=case_id,
        ok=ok,
        error=None if ok else "ModelError: server down",
        inputs={"message": f"message of {case_id}"},
        expected={"category": expected},
        outputs={"category": got, "reply": f"reply to {case_id}"},
        scores=scores,
    )


@pytest.fixture
def run(tmp_path: Path) -> EvalRunRecord:
    """Eight cases of a label metric: hits, confusions, a failure and two expected nulls."""
    results = [
        labelled("a", "ORDER", "ORDER"),
        labelled("b", "ORDER", "REFUND"),
        labelled("c", "REFUND", "refund"),
        labelled("d", "REFUND", "REFUND"),
        labelled("e", "SHIPPING", "ORDER"),
        labelled("f", "ORDER", None, ok=False),
        labelled("g", None, None),
        labelled("h", None, "ORDER"),
    ]
    return write_run(
        tmp_path / "labels",
        results,
        metrics=["intent"],
        metric_kinds={"intent": "label"},
        metric_fields={"intent": "category"},
    )


def rendered(summary: EvalSummary) -> str:
    buffer = io.StringIO()
    render_summary(summary, Console(file=buffer, width=200, color_system=None))
    return buffer.getvalue()


def test_label_metric_gets_per_label_scores_and_a_confusion_matrix(run: EvalRunRecord) -> None:
    [report] = summarize(run).label_metrics
    assert (report.metric, report.field, report.n) == ("intent", "category", 8)
    assert report.labels == ["ORDER", "REFUND", "SHIPPING", "(none)", "(failed)"]
    assert report.confusion == [
        [1, 1, 0, 0, 1],  # ORDER: a hit, b as REFUND, f failed
        [0, 2, 0, 0, 0],  # REFUND: c (case ignored) and d
        [1, 0, 0, 0, 0],  # SHIPPING: e as ORDER
        [1, 0, 0, 1, 0],  # expected null: g null, h ORDER
        [0, 0, 0, 0, 0],
    ]
    rows = {row.label: row for row in report.per_label}
    assert (rows["ORDER"].precision, rows["ORDER"].recall) == (pytest.approx(1 / 3),) * 2
    assert rows["REFUND"].precision == pytest.approx(2 / 3) and rows["REFUND"].recall == 1.0
    assert rows["REFUND"].f1 == pytest.approx(0.8)
    assert (rows["SHIPPING"].precision, rows["SHIPPING"].recall, rows["SHIPPING"].f1) == (
        None,
        0.0,
        0.0,
    )
    assert (rows["(none)"].support, rows["(none)"].predicted) == (2, 1)
    assert (rows["(failed)"].support, rows["(failed)"].recall) == (0, None)
    # macro-F1 over the expected labels: (1/3 + 0.8 + 0 + 2/3) / 4
    assert report.macro_f1 == pytest.approx((1 / 3 + 0.8 + 0 + 2 / 3) / 4)
    assert report.accuracy == 0.5


def test_label_tables_are_in_the_summary_json_terminal_and_html(run: EvalRunRecord) -> None:
    summary = summarize(run)
    data = json.loads(summary.model_dump_json())
    [table] = data["label_metrics"]
    assert set(table) == {
        "metric", "field", "n", "accuracy", "macro_f1", "labels", "per_label", "confusion"
    }  # fmt: skip
    assert set(table["per_label"][0]) == {
        "label", "precision", "recall", "f1", "support", "predicted"
    }  # fmt: skip
    assert EvalSummary.model_validate(data) == summary
    text = rendered(summary)
    assert "label metric intent (category): accuracy 0.500, macro-F1 0.450, n=8" in text
    assert "confusion (rows expected, columns predicted)" in text
    assert "SHIPPING" in text and "(failed)" in text
    page = Page(report_html(run, summary))
    joined = "".join(page.text)
    assert "intent per label: accuracy 0.500, macro-F1 0.450, n=8" in joined
    assert "Confusion matrix" in joined
    confusion = report_html(run, summary).split('<table class="confusion">')[1]
    assert '<td class="num miss">1</td>' in confusion and '<td class="num hit">2</td>' in confusion


def test_many_labels_list_the_most_frequent_confusions(tmp_path: Path) -> None:
    truth = [f"L{i:02d}" for i in range(14)]
    results = [labelled(f"h{i}", label, label) for i, label in enumerate(truth)]
    results += [labelled(f"m{i}", "L03", "L07") for i in range(3)]
    results.append(labelled("x", "L01", "L02"))
    run = write_run(
        tmp_path / "r",
        results,
        metrics=["intent"],
        metric_kinds={"intent": "label"},
        metric_fields={"intent": "category"},
    )
    text = rendered(summarize(run))
    assert "most frequent confusions" in text and "confusion (rows" not in text
    rows = [line.split() for line in text.splitlines() if line.startswith(("L03", "L01"))]
    assert rows[-2:] == [["L03", "L07", "3"], ["L01", "L02", "1"]]


def test_old_runs_and_other_kinds_get_no_label_tables(tmp_path: Path) -> None:
    results = [labelled("a", "ORDER", "ORDER"), labelled("b", "ORDER", "REFUND")]
    old = write_run(tmp_path / "old", results, metrics=["intent"])
    assert summarize(old).label_metrics == []
    exact = write_run(
        tmp_path / "exact", results, metrics=["intent"], metric_kinds={"intent": "exact"}
    )
    assert summarize(exact).label_metrics == []


def test_worst_cases_show_input_expected_and_output(run: EvalRunRecord) -> None:
    summary = summarize(run)
    worst = {case.case_id: case for case in summary.worst}
    assert [case.case_id for case in summary.worst] == ["f", "b", "e", "h"]  # failure first
    b = worst["b"]
    assert b.inputs == {"message": "message of b"}
    assert b.expected == {"category": "ORDER"}
    assert b.outputs == {"category": "REFUND", "reply": "reply to b"}
    assert b.details == {"intent": "got 'REFUND', expected 'ORDER'"}
    text = rendered(summary)
    assert 'input    message: "message of b"' in text
    assert 'expected category: "ORDER"' in text
    assert 'got      category: "REFUND"' in text
    assert "intent   got 'REFUND', expected 'ORDER'" in text
    page = Page(report_html(run, summary))
    headers = [t.strip() for t in page.text if t.strip()]
    assert {"input", "expected", "output"} <= set(headers)
    joined = "".join(page.text)
    assert '"message of b"' in joined and '"reply to b"' in joined


def test_worst_case_values_are_escaped_and_cut(tmp_path: Path) -> None:
    long = "x" * 5000
    result = CaseResult(
        case_id="c",
        inputs={"message": HOSTILE, "long": long},
        expected={"a": "[bold]b[/]"},
        outputs={"a": HOSTILE},
        scores={"a": MetricScore(value=0.0)},
    )
    run = write_run(tmp_path / "r", [result], metrics=["a"])
    text = report_html(run, summarize(run))
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert long not in text and "x" * 1990 in text
    shown = rendered(summarize(run))
    assert "[bold]b[/]" in shown and long not in shown


def test_present_and_absent_expected_values_are_reported_apart(run: EvalRunRecord) -> None:
    summary = summarize(run)
    [metric] = summary.metrics
    assert metric.n == 8 and metric.mean == 0.5
    assert metric.present is not None and metric.absent is not None
    assert (metric.present.n, metric.present.mean) == (6, 0.5)  # a, c, d of a-f
    assert (metric.absent.n, metric.absent.mean) == (2, 0.5)  # g passes, h does not
    assert 0.0 <= metric.absent.low <= metric.absent.high <= 1.0
    text = rendered(summary)
    assert "expected present" in text and "0.500 (n=6)" in text and "0.500 (n=2)" in text
    page = "".join(Page(report_html(run, summary)).text)
    assert "Expected values present and absent" in page and "expected_null" in page


def test_a_run_without_expected_nulls_shows_no_presence_columns(tmp_path: Path) -> None:
    results = [labelled("a", "ORDER", "ORDER"), labelled("b", "ORDER", "REFUND")]
    run = write_run(
        tmp_path / "r", results, metrics=["intent"], metric_fields={"intent": "category"}
    )
    summary = summarize(run)
    assert summary.metrics[0].absent is not None and summary.metrics[0].absent.n == 0
    assert "expected null" not in rendered(summary)
    assert "Expected values present and absent" not in report_html(run, summary)


def spec_project(tmp_path: Path, metrics: str) -> Path:
    root = write_project(
        tmp_path,
        {
            "flows/f.yaml": "name: f\nstate:\n  text: {type: str, input: true}\nnodes: []\n",
            "evalsets/e.yaml": f"name: e\nflow: f\ncases: e.jsonl\nmetrics:\n{metrics}",
            "evalsets/e.jsonl": '{"id": "c", "inputs": {"text": "x"}, "expected": {}}\n',
        },
    )
    return root / "evalsets" / "e.yaml"


async def scored(metrics: str, tmp_path: Path, expected: dict[str, Any], outputs: Any) -> Any:
    spec = spec_project(tmp_path, metrics)
    built = build_metrics(load_eval_spec(spec), ReferencePolicy(tmp_path))
    case = EvalCase(id="c", inputs={}, expected=expected)
    context = MetricContext(models=None, usage=UsageLedger())
    return await score_case(built, outputs, case, context)


async def test_expected_null_is_an_explicit_option(tmp_path: Path) -> None:
    match = "  intent: {kind: label, field: category}\n"
    skip = "  intent: {kind: label, field: category, expected_null: skip}\n"
    both_null = await scored(match, tmp_path / "a", {"category": None}, {"category": None})
    assert both_null["intent"].value == 1.0  # the default: null matches null
    made_up = await scored(match, tmp_path / "b", {"category": None}, {"category": "ORDER"})
    assert made_up["intent"].value == 0.0
    skipped = await scored(skip, tmp_path / "c", {"category": None}, {"category": None})
    assert skipped == {}
    present = await scored(skip, tmp_path / "d", {"category": "ORDER"}, {"category": "order"})
    assert present["intent"].value == 1.0
    with pytest.raises(EvalSetError, match="expected_null"):
        load_eval_spec(spec_project(tmp_path / "e", "  intent: {kind: label, expected_null: no}\n"))


RULES = """
def answer(text: str) -> dict:
    return {"loud": text.upper(), "length": len(text), "note": None}
"""
FLOW = """
name: answer
state:
  text: {type: str, input: true}
  loud: str
  length: int
  note: optional[str]
  unset: optional[str]
nodes:
  - {id: answer, kind: function, call: "rules:answer", reads: [text], writes: [loud, length, note]}
"""
SPEC = """
name: answer
flow: answer
cases: answer.jsonl
metrics:
  loud: exact
  empty: {kind: exact, field: note, expected_null: skip}
"""


async def test_results_keep_inputs_and_unscored_outputs(tmp_path: Path) -> None:
    cases = [
        {"id": "a", "inputs": {"text": "hi"}, "expected": {"loud": "HI", "note": None}},
        {"id": "b", "inputs": {"text": "yo"}, "expected": {"loud": "NO"}},
    ]
    write_project(
        tmp_path,
        {
            "rules.py": RULES,
            "flows/answer.yaml": FLOW,
            "evalsets/answer.yaml": SPEC,
            "evalsets/answer.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
        },
        "name: explain\ntiers: {}\n",
    )
    result = await arun_eval(tmp_path / "evalsets" / "answer.yaml")
    folder = result.record.folder
    lines = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    by_id = {line["case_id"]: line for line in lines}
    assert by_id["a"]["inputs"] == {"text": "hi"}
    # the scored fields first, then every other output key the run set
    assert by_id["a"]["outputs"] == {"loud": "HI", "note": None, "length": 2}
    assert list(by_id["a"]["scores"]) == ["loud"]  # `empty` skips the expected null
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["metric_fields"] == {"loud": "loud", "empty": "note"}
    assert manifest["metric_kinds"] == {"loud": "exact", "empty": "exact"}
    [worst] = result.summary.worst
    assert (worst.case_id, worst.inputs, worst.outputs["loud"]) == ("b", {"text": "yo"}, "YO")


def test_intervals_of_bounded_metrics_stay_inside_0_1(tmp_path: Path) -> None:
    """Two or three cases per tag of a token F1 metric gave `[-0.614, 1.681]`; now in [0, 1]."""
    f1 = [0.05, 1.0, 0.55, 0.9, 0.1, 0.6, 0.0, 1.0]
    results = [
        case(f"c{i}", {"f1": value, "exact": float(value > 0.5)}, continuous=("f1",), tags=[tag])
        for i, (value, tag) in enumerate(zip(f1, "aabbbccc", strict=True))
    ]
    summary = summarize(write_run(tmp_path / "r", results, metrics=["f1", "exact"]))
    shown = [*summary.metrics, *(m for tag in summary.tags for m in tag.metrics)]
    assert len(shown) == 8
    for metric in shown:
        assert 0.0 <= metric.low <= metric.mean <= metric.high <= 1.0, metric
    tag_a = next(tag for tag in summary.tags if tag.tag == "a").metrics[0]
    assert (tag_a.low, tag_a.high) == (0.0, 1.0)  # n=2: t(1) = 12.7, clipped to the bounds


def test_label_tables_escape_hostile_labels(tmp_path: Path) -> None:
    results = [labelled("a", HOSTILE, HOSTILE), labelled("b", HOSTILE, "[bold]x[/]")]
    run = write_run(
        tmp_path / "r",
        results,
        metrics=["intent"],
        metric_kinds={"intent": "label"},
        metric_fields={"intent": "category"},
    )
    summary = summarize(run)
    assert summary.label_metrics[0].labels == [HOSTILE, "[bold]x[/]"]
    text = report_html(run, summary)
    page = Page(text)
    assert not page.tags("script") and not page.tags("img") and "<script>" not in text
    assert HOSTILE in "".join(page.text)
    assert "[bold]x[/]" in rendered(summary)
