"""`stepladder eval compare` and `eval report` off a terminal: every column printed whole."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from stepladder.cli import app
from tests.conftest import write_project
from tests.evalsets.runs import case, write_run

BASE_ID = "20260102-030405-base-with-a-long-name"
CAND_ID = "20260102-030406-candidate-with-a-long-name"


def test_compare_prints_full_columns_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    root = write_project(tmp_path, {})
    evals = root / ".stepladder" / "evals"
    metrics = {"exact_match_of_the_category_label": 1.0, "token_f1_of_the_reply_text": 0.5}
    continuous = ("token_f1_of_the_reply_text",)
    for run_id in (BASE_ID, CAND_ID):
        results = [case(f"c{i}", metrics, continuous=continuous) for i in range(4)]
        write_run(evals / run_id, results, run_id=run_id)
    result = CliRunner().invoke(app, ["--project", str(root), "eval", "compare", BASE_ID, CAND_ID])
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    header = next(line for line in result.stdout.splitlines() if " diff " in line)
    for column in ("metric", "baseline", "candidate", "diff", "95% CI", "test", "p", "verdict"):
        assert f" {column} " in f" {header} "
    assert "exact_match_of_the_category_label" in result.stdout
    assert "no significant change" in result.stdout
    assert f"baseline {BASE_ID} vs candidate {CAND_ID}" in result.stdout
    shown = CliRunner().invoke(app, ["--project", str(root), "eval", "report", CAND_ID])
    assert shown.exit_code == 0, shown.output
    assert "…" not in shown.stdout and "token_f1_of_the_reply_text" in shown.stdout
