"""`stepladder eval SPEC --resume RUN_ID`: the run's own options, a torn last line, ids only."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config import load_project
from stepladder.evalsets import load_run
from stepladder.evalsets.results import MANIFEST_FILE, RESULTS_FILE
from stepladder.evalsets.runner import evals_dir
from tests.evalsets.eval_project import eval_project

runner = CliRunner()
TEXTS = [f"word{i}" for i in range(12)]


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EVAL_TEST_LOG", str(tmp_path / "executions.log"))
    monkeypatch.setenv("EVAL_TEST_DELAY", "0")
    return eval_project(tmp_path / "project", TEXTS)


def evaluate(spec: Path, *options: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["eval", str(spec), "--json", *options])
    return result.exit_code, result.stdout, result.stderr


def executions(spec: Path) -> list[str]:
    log = spec.parents[2] / "executions.log"
    return log.read_text().split() if log.exists() else []


def cut_short(folder: Path, keep: int, torn: str) -> list[str]:
    """Leave the run as a kill would: `keep` whole lines, then `torn`; not finished."""
    results = folder / RESULTS_FILE
    lines = results.read_text().splitlines(keepends=True)
    results.write_text("".join(lines[:keep]) + torn)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest | {"finished": None}))
    return [json.loads(line)["case_id"] for line in lines[:keep]]


def start_run(spec: Path, *options: str) -> Path:
    code, stdout, stderr = evaluate(spec, *options)
    assert code == 0, stderr
    return evals_dir(load_project(root=spec.parents[1])) / json.loads(stdout)["run_id"]


def test_a_resumed_run_keeps_its_limit_and_split_and_repairs_a_torn_line(spec: Path) -> None:
    folder = start_run(spec, "--limit", "4", "--split", "test")
    selected = ["c2", "c3", "c4", "c5"]
    assert sorted(r.case_id for r in load_run(folder).results) == selected
    lines = (folder / RESULTS_FILE).read_text().splitlines()
    kept = cut_short(folder, 2, lines[2][: len(lines[2]) // 2])  # a torn third line
    (spec.parents[2] / "executions.log").unlink()

    code, stdout, stderr = evaluate(spec, "--resume", folder.name)
    assert code == 0, stderr
    assert "2 of 4 cases already done" in stderr
    assert json.loads(stdout)["cases"] == 4
    assert sorted(executions(spec)) == sorted(f"word{c[1:]}" for c in selected if c not in kept)
    stored = [json.loads(line) for line in (folder / RESULTS_FILE).read_text().splitlines()]
    assert sorted(r["case_id"] for r in stored) == selected  # each once; the torn line is gone
    record = load_run(folder)
    assert record.manifest.limit == 4 and record.manifest.split == "test"
    assert record.manifest.finished is not None


def test_a_last_line_that_only_lost_its_newline_is_kept(spec: Path) -> None:
    folder = start_run(spec, "--limit", "3")
    lines = (folder / RESULTS_FILE).read_text().splitlines()
    kept = cut_short(folder, 1, lines[1])  # whole, without "\n"
    (spec.parents[2] / "executions.log").unlink()
    code, _, stderr = evaluate(spec, "--resume", folder.name)
    assert code == 0, stderr
    done = {*kept, json.loads(lines[1])["case_id"]}
    assert len(executions(spec)) == 1  # only the third case ran
    stored = [json.loads(line)["case_id"] for line in (folder / RESULTS_FILE).open()]
    assert sorted(stored) == ["c0", "c1", "c2"] and done < set(stored)


def test_options_that_conflict_with_the_run_are_refused(spec: Path) -> None:
    folder = start_run(spec, "--limit", "4", "--no-cache")
    cut_short(folder, 2, "")
    for options, says in [
        (["--limit", "12"], "--limit 12 (the run has --limit 4)"),
        (["--split", "dev"], "--split dev (the run has no --split)"),
        (["--cache"], "--cache (the run has --no-cache)"),
        (["--no-compiled"], "--no-compiled (the run has --compiled)"),
    ]:
        code, stdout, stderr = evaluate(spec, "--resume", folder.name, *options)
        assert code == 2, stderr
        assert stderr.startswith("error: ") and "keeps the options it was started with" in stderr
        assert says in stderr
        assert stdout == ""
    assert len(load_run(folder).results) == 2  # nothing ran
    code, stdout, stderr = evaluate(
        spec, "--resume", folder.name, "--limit", "4", "--concurrency", "1"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["cases"] == 4
    assert load_run(folder).manifest.concurrency == 1


def test_resume_takes_run_ids_not_paths(spec: Path, tmp_path: Path) -> None:
    outside = tmp_path / "evil_run"
    start = start_run(spec, "--limit", "2")
    outside.mkdir()
    for name in (MANIFEST_FILE, RESULTS_FILE):
        (outside / name).write_bytes((start / name).read_bytes())
    before = (outside / RESULTS_FILE).read_bytes()
    evals = start.parent
    (evals / "linked").symlink_to(outside, target_is_directory=True)
    relative = "../../../evil_run"
    assert (evals / relative).resolve() == outside.resolve()
    for given, says in [
        (relative, "not a run id"),
        (str(outside), "not a run id"),
        ("..", "not a run id"),
        ("linked", "that run folder leads outside"),
        ("20990101-000000-abcd", "no such eval run"),
    ]:
        code, _, stderr = evaluate(spec, "--resume", given)
        assert code == 2, stderr
        assert f"--resume {given}: {says}" in stderr
        assert "Traceback" not in stderr
    assert start.name in stderr  # recent runs are listed
    assert (outside / RESULTS_FILE).read_bytes() == before
