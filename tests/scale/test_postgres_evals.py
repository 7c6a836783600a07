"""Eval runs in Postgres: killed mid-way and resumed from another folder, compared, reported.

With `STEPLADDER_POSTGRES_URL` set, `stepladder eval` keeps its manifest and each case's
result in the database as the case finishes; a run killed with SIGKILL is resumed by
`--resume RUN_ID` from another project folder (no case done before runs again), `eval compare`
and `eval report` read runs from there, and so does the studio. Nothing is written to the
project's `.stepladder/evals` or `.stepladder/traces`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config import load_project
from stepladder.config.state import POSTGRES_URL_ENV
from stepladder.evalsets.postgres_runs import PostgresEvalRuns
from stepladder.evalsets.run_store import eval_run_store
from stepladder.studio import create_studio_app
from tests.evalsets.eval_project import eval_project
from tests.postgres_server import PostgresServer

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
TEXTS = [f"word{i}" for i in range(10)]


def results(url: str, run_id: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT case_id FROM stepladder_eval_results WHERE run_id = %s", (run_id,)
        ).fetchall()
    return [str(case) for (case,) in rows]


def run_ids(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        if connection.execute("SELECT to_regclass('stepladder_eval_runs')").fetchone() == (None,):
            return []  # not migrated yet
        rows = connection.execute("SELECT run_id FROM stepladder_eval_runs").fetchall()
    return [str(run) for (run,) in rows]


def wait_until(done: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(what)
        time.sleep(0.05)


def test_postgres_eval_killed_midway_resumes_elsewhere_and_compares(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.create_database(f"evals_{uuid.uuid4().hex[:8]}")
    spec = eval_project(tmp_path / "one", TEXTS)
    one = spec.parents[1]
    two = tmp_path / "two"
    shutil.copytree(one, two)
    log = tmp_path / "executions.log"
    env = {**os.environ, POSTGRES_URL_ENV: url, "PYTHONPATH": str(ROOT)}
    env |= {"EVAL_TEST_LOG": str(log), "EVAL_TEST_DELAY": "0.2"}
    killed = subprocess.Popen(
        [sys.executable, "-m", "stepladder", "eval", str(spec), "--json", "--concurrency", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=one,
    )  # fmt: skip
    try:
        wait_until(lambda: bool(run_ids(url)) and len(results(url, run_ids(url)[0])) >= 3,
                   "the eval recorded no case in Postgres")  # fmt: skip
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    [first] = run_ids(url)
    done = set(results(url, first))
    assert 3 <= len(done) < len(TEXTS), "the eval was not killed mid-run"
    log.unlink()

    monkeypatch.setenv(POSTGRES_URL_ENV, url)
    monkeypatch.setenv("EVAL_TEST_LOG", str(log))
    monkeypatch.setenv("EVAL_TEST_DELAY", "0")
    other_spec = two / "evalsets" / "shout.yaml"
    resumed = runner.invoke(app, ["eval", str(other_spec), "--json", "--resume", first])
    assert resumed.exit_code == 0, resumed.output
    assert f"{len(done)} of {len(TEXTS)} cases already done" in resumed.stderr
    rerun = log.read_text().split()
    assert sorted(rerun) == sorted(t for i, t in enumerate(TEXTS) if f"c{i}" not in done)
    assert sorted(results(url, first)) == sorted(f"c{i}" for i in range(len(TEXTS)))
    record = eval_run_store(load_project(root=two)).load(first)
    assert record.manifest.finished is not None and len(record.results) == len(TEXTS)

    second = runner.invoke(app, ["eval", str(other_spec), "--json", "--limit", "6"])
    assert second.exit_code == 0, second.output
    second_id = json.loads(second.stdout)["run_id"]
    compared = runner.invoke(
        app, ["--project", str(one), "eval", "compare", first, second_id[:15], "--json"]
    )
    assert compared.exit_code == 0, compared.output
    comparison = json.loads(compared.stdout)
    assert comparison["baseline_run_id"] == first
    assert comparison["candidate_run_id"] == second_id and comparison["paired"] == 6

    report = runner.invoke(app, ["--project", str(one), "eval", "report", first, "--json"])
    assert report.exit_code == 0, report.output
    page = one / ".stepladder" / "eval-reports" / first / "report.html"
    assert page.is_file() and f"report: {page}" in report.stderr.replace("\n", "")
    listed = TestClient(create_studio_app(one)).get("/api/evals").json()
    assert {row["run_id"] for row in listed["runs"]} == {first, second_id}
    for root in (one, two):
        assert not (root / ".stepladder" / "evals").exists()
        assert not (root / ".stepladder" / "traces").exists()


def test_postgres_eval_resume_names_the_runs_it_has(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.create_database(f"evals_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv(POSTGRES_URL_ENV, url)
    monkeypatch.setenv("EVAL_TEST_DELAY", "0")
    spec = eval_project(tmp_path / "p", TEXTS[:2])
    made = runner.invoke(app, ["eval", str(spec), "--json"])
    assert made.exit_code == 0, made.output
    run_id = json.loads(made.stdout)["run_id"]
    store = eval_run_store(load_project(root=spec.parents[1]))
    assert isinstance(store, PostgresEvalRuns) and store.run_ids() == [run_id]
    for given, says in [
        ("nope", f"--resume nope: no such eval run in the Postgres state store at {url}"),
        ("../x", "--resume ../x: not a run id"),
    ]:
        refused = runner.invoke(app, ["eval", str(spec), "--resume", given])
        assert refused.exit_code == 2
        assert says in refused.stderr.replace("\n", "") and run_id in refused.stderr
