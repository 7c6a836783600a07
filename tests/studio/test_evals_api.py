"""The studio's evals JSON API over real eval runs on disk (a function-node flow, no model)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from stepladder.cli import app as cli_app
from stepladder.evalsets import load_run
from stepladder.evalsets.baseline import save_baseline
from stepladder.evalsets.report import summarize
from stepladder.evalsets.run_comparison import compare_runs, gate
from stepladder.studio import create_studio_app
from tests.studio.evals_project import (
    BASELINE_BROKEN,
    CANDIDATE_BROKEN,
    QUESTIONS,
    EvalRuns,
    make_eval_runs,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvalRuns]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield make_eval_runs(tmp_path_factory.mktemp("evals"), monkeypatch)


@pytest.fixture(scope="module")
def client(runs: EvalRuns) -> TestClient:
    return TestClient(create_studio_app(runs.root))


def folder(runs: EvalRuns, run_id: str) -> Path:
    return runs.root / ".stepladder" / "evals" / run_id


def case_id(question: str) -> str:
    return f"q{QUESTIONS.index(question)}"


def test_the_list_has_every_run_with_the_report_metrics(runs: EvalRuns, client: TestClient) -> None:
    response = client.get("/api/evals")
    assert response.status_code == 200
    body = response.json()
    assert body["skipped"] == []
    listed = {row["run_id"]: row for row in body["runs"]}
    assert list(listed) == [runs.candidate, runs.baseline]  # newest first
    for run_id, row in listed.items():
        summary = summarize(load_run(folder(runs, run_id)))
        assert (row["eval_name"], row["flow"], row["cases"]) == (
            "answers",
            "answer",
            len(QUESTIONS),
        )
        assert row["failed"] == 1 and row["baseline"] is False
        assert [(m["name"], m["mean"], m["low"], m["high"]) for m in row["metrics"]] == [
            (m.name, m.mean, m.low, m.high) for m in summary.metrics
        ]
        assert row["cost_per_case_usd"] == summary.cost_per_case_usd


def test_a_saved_baseline_is_listed_and_readable_by_its_compare_name(
    runs: EvalRuns, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    shutil.copytree(runs.root, root)
    save_baseline(load_run(root / ".stepladder/evals" / runs.baseline), root)
    client = TestClient(create_studio_app(root))
    rows = client.get("/api/evals").json()["runs"]
    assert [row["run_id"] for row in rows][-1] == "baseline:answers"
    assert rows[-1]["baseline"] is True
    run = client.get("/api/evals/baseline:answers").json()
    assert run["manifest"]["run_id"] == runs.baseline and len(run["cases"]) == len(QUESTIONS)
    assert run["related"]["baseline"] is None  # a baseline is not compared with itself
    related = client.get(f"/api/evals/{runs.candidate}").json()["related"]
    assert related == {"baseline": "baseline:answers", "previous": runs.baseline}


def test_a_run_names_the_previous_run_of_its_eval(runs: EvalRuns, client: TestClient) -> None:
    first = client.get(f"/api/evals/{runs.baseline}").json()["related"]
    second = client.get(f"/api/evals/{runs.candidate}").json()["related"]
    assert first == {"baseline": None, "previous": None}
    assert second == {"baseline": None, "previous": runs.baseline}


def test_a_run_has_metrics_with_intervals_tags_cost_and_every_case(
    runs: EvalRuns, client: TestClient
) -> None:
    response = client.get(f"/api/evals/{runs.candidate}")
    assert response.status_code == 200
    run = response.json()
    record = load_run(folder(runs, runs.candidate))
    assert run["summary"] == summarize(record).model_dump(mode="json")
    assert run["metric_names"] == ["answer", "answer_f1", "answer_label"]
    assert {tag["tag"] for tag in run["summary"]["tags"]} == {"short", "long", "even", "odd"}
    cases = {case["case_id"]: case for case in run["cases"]}
    assert set(cases) == {f"q{i}" for i in range(len(QUESTIONS))}
    broken = cases[case_id(CANDIDATE_BROKEN[1])]
    question = CANDIDATE_BROKEN[1]
    assert broken["inputs"] == {"question": question}
    assert broken["expected"] == {"answer": question.upper()}
    assert broken["outputs"] == {"answer": question.split()[0].upper()}
    assert broken["score_values"]["answer"] == 0.0
    assert 0 < broken["score_values"]["answer_f1"] < 1
    scores = broken["score_values"].values()
    assert broken["mean_score"] == pytest.approx(sum(scores) / len(scores))
    assert broken["ok"] is True and broken["error"] is None
    failed = cases[case_id("boom")]
    assert failed["ok"] is False and "boom is not allowed" in failed["error"]
    assert failed["score_values"] == {"answer": 0.0, "answer_f1": 0.0, "answer_label": 0.0}


def test_each_case_links_a_trace_stored_in_the_project(runs: EvalRuns, client: TestClient) -> None:
    cases = client.get(f"/api/evals/{runs.candidate}").json()["cases"]
    stored = "".join(
        path.read_text() for path in (runs.root / ".stepladder" / "traces").rglob("*.jsonl")
    )
    assert all(case["trace_id"] and case["trace_id"] in stored for case in cases)


def compare(client: TestClient, a: str, b: str, **options: Any) -> dict[str, Any]:
    response = client.get("/api/evals/compare", params={"a": a, "b": b, **options})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_compare_shows_the_changed_cases_side_by_side(runs: EvalRuns, client: TestClient) -> None:
    data = compare(client, runs.baseline, runs.candidate)
    kinds = {case["case_id"]: case["kind"] for case in data["changed"]}
    assert kinds == {
        **{case_id(q): "regression" for q in CANDIDATE_BROKEN},
        **{case_id(q): "improvement" for q in BASELINE_BROKEN},
    }
    assert data["counts"] == {
        "regressions": len(CANDIDATE_BROKEN),
        "improvements": len(BASELINE_BROKEN),
        "mixed": 0,
    }
    first = data["changed"][0]
    assert first["kind"] == "regression"  # worst change first
    question = first["inputs"]["question"]
    assert first["a"]["outputs"] == {"answer": question.upper()}
    assert first["b"]["outputs"] == {"answer": question.split()[0].upper()}
    assert first["deltas"]["answer"] == -1.0
    assert first["a"]["trace_id"] != first["b"]["trace_id"]


def test_the_gate_verdict_is_the_one_of_eval_compare_gate(
    runs: EvalRuns, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(runs.root)
    base, cand = load_run(folder(runs, runs.baseline)), load_run(folder(runs, runs.candidate))
    cli = CliRunner()
    for options, flags in (
        ({}, []),
        ({"alpha": 0.01}, ["--alpha", "0.01"]),
        ({"max_cost_increase": 0.5}, ["--max-cost-increase", "0.5"]),
    ):
        data = compare(client, runs.baseline, runs.candidate, **options)
        alpha = options.get("alpha", 0.05)
        expected = gate(compare_runs(base, cand, alpha=alpha))
        assert data["gate"]["failures"] == expected and data["gate"]["passed"] is False
        command = ["eval", "compare", runs.baseline, runs.candidate, "--gate", *flags]
        result = cli.invoke(cli_app, ["--project", str(runs.root), *command])
        assert result.exit_code == 1, result.output
        assert all(failure.split(" (")[0] in result.output for failure in expected)
        assert data["gate"]["command"].startswith("stepladder eval compare")
    strict = compare(client, runs.baseline, runs.candidate, alpha=0.01)["gate"]["failures"]
    loose = compare(client, runs.baseline, runs.candidate)["gate"]["failures"]
    assert len(strict) < len(loose)  # the option reaches the tests


def test_identical_runs_pass_the_gate_with_no_changed_case(
    runs: EvalRuns, client: TestClient
) -> None:
    data = compare(client, runs.candidate, runs.candidate)
    assert data["gate"] == {**data["gate"], "passed": True, "failures": []}
    assert data["changed"] == [] and data["comparison"]["paired"] == len(QUESTIONS)


@pytest.mark.parametrize("ref", ["nope", "baseline:nope", "...", "20261"])
def test_an_unknown_run_is_a_404_that_names_the_runs(
    runs: EvalRuns, client: TestClient, ref: str
) -> None:
    response = client.get(f"/api/evals/{ref}")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "no eval run" in detail and runs.baseline in detail and runs.candidate in detail


def test_compare_rejects_unknown_runs_and_bad_options(runs: EvalRuns, client: TestClient) -> None:
    missing = client.get("/api/evals/compare", params={"a": runs.baseline, "b": "nope"})
    assert missing.status_code == 404 and "'nope'" in missing.json()["detail"]
    half = client.get("/api/evals/compare", params={"a": runs.baseline})
    assert half.status_code == 400 and "?a=" in half.json()["detail"]
    params = {"a": runs.baseline, "b": runs.candidate, "alpha": 2}
    bad = client.get("/api/evals/compare", params=params)
    assert bad.status_code == 400 and "alpha" in bad.json()["detail"]


def test_an_unreadable_run_is_named_not_fatal(runs: EvalRuns, tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(runs.root, root)
    (root / ".stepladder/evals" / runs.baseline / "manifest.json").write_text("{not json")
    body = TestClient(create_studio_app(root)).get("/api/evals").json()
    assert [row["run_id"] for row in body["runs"]] == [runs.candidate]
    assert len(body["skipped"]) == 1 and runs.baseline in body["skipped"][0]


def test_no_runs_is_an_empty_list(tmp_path: Path) -> None:
    (tmp_path / "stepladder.yaml").write_text("name: empty\ntiers: {}\n")
    body = TestClient(create_studio_app(tmp_path)).get("/api/evals").json()
    assert body == {"runs": [], "skipped": []}
