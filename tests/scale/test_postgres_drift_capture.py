"""`stepladder drift` and `stepladder capture` reading traces and eval runs from Postgres.

The eval set's traced eval run and the production runs are written with the state store in
Postgres (the same helpers as the file-store tests); drift finds the shift and compares the
rates with the eval run's (read from the database), and capture turns the traced runs into
cases. Nothing is written to the project's traces or eval runs folders.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config.state import POSTGRES_URL_ENV
from tests.evalsets.eval_project import eval_project
from tests.monitor.drift_project import (
    intent_sets,
    run_production,
    run_traced_eval,
    write_intents_project,
)
from tests.postgres_server import PostgresServer

runner = CliRunner()


def assert_no_local_store(root: Path) -> None:
    assert not (root / ".stepladder" / "traces").exists()
    assert not (root / ".stepladder" / "evals").exists()


def test_postgres_drift_reads_production_runs_and_eval_runs_from_the_database(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.create_database(f"drift_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv(POSTGRES_URL_ENV, url)
    sets = intent_sets(intents=8, per_intent=20, production=80, seed=3)
    root = tmp_path / "project"
    spec = write_intents_project(root, sets.eval_rows)
    run_traced_eval(root, spec)
    since, until = run_production(root, sets.clinc)

    window = ["--since", since.isoformat(), "--until", until.isoformat()]
    result = runner.invoke(app, ["--project", str(root), "drift", "intents", *window, "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["drifted"] is True and data["production_runs"] == 80
    assert data["reference_runs"] == 160  # the eval run's traced cases, its manifest in Postgres
    assert_no_local_store(root)


def test_postgres_capture_turns_traced_runs_into_cases(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.create_database(f"capture_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv(POSTGRES_URL_ENV, url)
    monkeypatch.setenv("EVAL_TEST_DELAY", "0")
    root = eval_project(tmp_path / "project", ["unused"]).parents[1]
    for text in ("hello", "calm", "rain"):
        ran = runner.invoke(app, ["--project", str(root), "run", "shout", "--input",
                                  json.dumps({"text": text})])  # fmt: skip
        assert ran.exit_code == 0, ran.output

    target = root / "evalsets" / "got.jsonl"
    command = ["--project", str(root), "capture", "shout", "--from-traces", "--to", str(target)]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    cases = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(c["inputs"], c["expected"]) for c in cases] == [
        ({"text": text}, {"loud": text.upper()}) for text in ("hello", "calm", "rain")
    ]
    assert_no_local_store(root)
