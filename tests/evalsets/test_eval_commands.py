"""`stepladder eval`: run, report, compare with a gate, and baselines, through the CLI."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.evalsets import load_run
from stepladder.testing import arun_eval
from tests.evalsets.eval_project import eval_project

runner = CliRunner()
TEXTS = ["hello", "quiet", "loud", "calm", "storm", "rain", "sun", "wind"] * 3


def run_cli(project: Path, *args: str) -> Any:
    return runner.invoke(app, ["--project", str(project), *args])


def eval_json(project: Path, spec: Path, *args: str) -> dict[str, Any]:
    result = run_cli(project, "eval", str(spec), "--json", *args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_eval_spec_runs_and_writes_a_report(tmp_path: Path) -> None:
    spec = eval_project(tmp_path, TEXTS[:4])
    summary = eval_json(tmp_path, spec)
    assert summary["cases"] == 4 and summary["ok"] == 4
    [metric] = summary["metrics"]
    assert metric["name"] == "loud" and metric["mean"] == 1.0
    folder = tmp_path / ".stepladder/evals" / summary["run_id"]
    assert (folder / "report.html").read_text().startswith("<!DOCTYPE html>")
    shown = run_cli(tmp_path, "eval", "report", summary["run_id"])
    assert shown.exit_code == 0 and "loud" in shown.stdout


def test_a_bad_spec_is_one_paragraph_with_exit_2(tmp_path: Path) -> None:
    spec = eval_project(tmp_path, TEXTS[:2])
    spec.write_text(spec.read_text().replace("loud: exact", "loud: exactly"))
    result = run_cli(tmp_path, "eval", str(spec))
    assert result.exit_code == 2
    assert "metrics.loud" in result.output and "exact" in result.output


async def test_compare_gates_a_worse_candidate_and_passes_an_equal_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = eval_project(tmp_path, TEXTS)
    base = (await arun_eval(spec)).record.manifest.run_id
    same = (await arun_eval(spec)).record.manifest.run_id
    saved = run_cli(tmp_path, "eval", "baseline", "save", base)
    assert saved.exit_code == 0, saved.output
    assert (tmp_path / "evalsets/baselines/shout/results.jsonl").is_file()
    passed = run_cli(tmp_path, "eval", "compare", "baseline", same, "--gate")
    assert passed.exit_code == 0, passed.output
    assert "gate passed" in passed.output
    worse = _worse_copy(tmp_path / ".stepladder/evals" / same, tmp_path / "worse")
    failed = run_cli(tmp_path, "eval", "compare", "baseline", str(worse), "--gate")
    assert failed.exit_code == 1
    assert "gate:" in failed.output and "loud" in failed.output
    report_only = run_cli(tmp_path, "eval", "compare", "baseline", str(worse))
    assert report_only.exit_code == 0


def _worse_copy(folder: Path, target: Path) -> Path:
    """The run with most answers wrong (as a model that broke would give)."""
    shutil.copytree(folder, target)
    lines = (target / "results.jsonl").read_text().splitlines()
    worse = []
    for index, line in enumerate(lines):
        data = json.loads(line)
        if index % 4:
            data["scores"]["loud"]["value"] = 0.0
        worse.append(json.dumps(data))
    (target / "results.jsonl").write_text("\n".join(worse) + "\n")
    assert len(load_run(target).results) == len(lines)
    return target


def test_compare_names_the_runs_it_knows_when_one_is_missing(tmp_path: Path) -> None:
    spec = eval_project(tmp_path, TEXTS[:2])
    run_id = eval_json(tmp_path, spec)["run_id"]
    result = run_cli(tmp_path, "eval", "compare", run_id, "20990101-000000-zzzz")
    assert result.exit_code == 2
    assert run_id in result.output
