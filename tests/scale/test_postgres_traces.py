"""The trace store in Postgres: a real flow's spans written there and read back by every reader.

With `STEPLADDER_POSTGRES_URL` set, `stepladder run` writes its spans to `stepladder_spans`;
`stepladder traces list|show|html`, `Project.traces` and the studio read them from any project
folder on the database, and nothing is written to the project's traces folder. Also the
current schema applied to a database of the first version, a newer one refused, and a
restart survived.
"""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from stepladder.api import Project
from stepladder.cli import app
from stepladder.config import load_project
from stepladder.config.state import POSTGRES_URL_ENV
from stepladder.errors import StateStoreError
from stepladder.flows.project import trace_store
from stepladder.state import postgres as postgres_state
from stepladder.studio import create_studio_app
from stepladder.tracing.postgres_spans import PostgresSpanWriter, PostgresTraces
from tests.evalsets.eval_project import eval_project
from tests.postgres_server import PostgresServer

runner = CliRunner()


def database(postgres: PostgresServer, name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database, made the state store of every project in this test."""
    url = postgres.create_database(f"{name}_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv(POSTGRES_URL_ENV, url)
    monkeypatch.setenv("EVAL_TEST_DELAY", "0")
    return url


def cli(root: Path, *args: str) -> Any:
    return runner.invoke(app, ["--project", str(root), *args])


def test_postgres_trace_store_gets_a_real_runs_spans_and_traces_reads_them_anywhere(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database(postgres, "traces", monkeypatch)
    one = eval_project(tmp_path / "one", ["hello"]).parents[1]
    two = eval_project(tmp_path / "two", ["other"]).parents[1]

    ran = cli(one, "run", "shout", "--input", '{"text": "hello"}')
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["loud"] == "HELLO"
    trace_id = ran.stderr.split("trace ", 1)[1].split()[0]
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT span_id, data FROM stepladder_spans WHERE trace_id = %s", (trace_id,)
        ).fetchall()
    names = {json.loads(data)["name"] for _, data in rows}
    assert len(rows) >= 2 and any("shout" in name for name in names)

    listed = cli(two, "traces", "list", "--json")  # another folder, the same database
    assert listed.exit_code == 0, listed.output
    [summary] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert summary["trace_id"] == trace_id and summary["flow"] == "shout"
    assert summary["status"] == "ok" and summary["spans"] == len(rows)
    shown = cli(two, "traces", "show", trace_id[:10])
    assert shown.exit_code == 0, shown.output
    assert "shout" in shown.stdout
    page = cli(two, "traces", "html", trace_id[:10])
    assert page.exit_code == 0, page.output
    written = Path(page.stdout.strip())
    assert written == two / ".stepladder" / "trace-pages" / f"{trace_id}.html"
    assert trace_id in written.read_text()
    with Project(load_project(root=two)) as embedded:
        assert [t.trace_id for t in embedded.traces().traces] == [trace_id]
    studio = TestClient(create_studio_app(two))
    [row] = studio.get("/api/runs").json()["runs"]
    assert row["trace_id"] == trace_id and "hello" in row["input"]
    assert studio.get(f"/api/traces/{trace_id[:10]}").json()["trace_id"] == trace_id
    missing = cli(two, "traces", "show", "ffff")
    assert missing.exit_code == 2 and "the Postgres trace store at" in missing.output
    for root in (one, two):
        assert not (root / ".stepladder" / "traces").exists()


def test_postgres_current_schema_is_applied_to_a_version_1_database_and_a_newer_one_refused(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database(postgres, "schema2", monkeypatch)
    with psycopg.connect(url) as connection:  # a database an older stepladder made
        connection.execute("CREATE TABLE stepladder_schema (version INTEGER PRIMARY KEY)")
        for statement in postgres_state._MIGRATIONS[0]:
            connection.execute(statement)
        connection.execute("INSERT INTO stepladder_schema VALUES (1)")
    postgres_state._migrated.discard(url)
    root = eval_project(tmp_path / "p", ["x"]).parents[1]
    source = trace_store(load_project(root=root))
    assert isinstance(source, PostgresTraces) and not source.has_traces()
    with psycopg.connect(url) as connection:
        versions = connection.execute("SELECT version FROM stepladder_schema ORDER BY 1")
        assert [v for (v,) in versions] == list(range(1, postgres_state.SCHEMA_VERSION + 1))
        connection.execute("INSERT INTO stepladder_schema VALUES (%s)", (99,))
    postgres_state._migrated.discard(url)  # as a new process would
    with pytest.raises(StateStoreError, match="schema version 99, newer than this stepladder"):
        source.load()
    refused = cli(root, "traces", "list")
    assert refused.exit_code == 1
    assert "schema version 99, newer than this stepladder knows" in refused.output
    assert "Traceback" not in refused.output


def test_postgres_span_writes_survive_a_database_restart(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database(postgres, "restart", monkeypatch)
    writer = PostgresSpanWriter(url)
    line = {"trace_id": "ab" * 16, "span_id": "01" * 8, "parent_id": None, "name": "run",
            "start_ns": 1, "end_ns": 2}  # fmt: skip
    assert writer.write(json.dumps(line).encode() + b"\n")
    postgres.restart()  # every pooled connection drops
    again = line | {"span_id": "02" * 8, "parent_id": "01" * 8, "name": "node"}
    assert writer.write(json.dumps(again).encode() + b"\n"), "the lost connection was not retried"
    store = PostgresTraces(url, tmp_path / "traces", tmp_path / "pages").load()
    [trace] = store.traces
    assert [span.name for span in trace.spans] == ["run", "node"] and writer.dropped == 0


def test_postgres_store_that_is_down_is_one_clear_error_for_every_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(POSTGRES_URL_ENV, f"postgresql://me:secret@127.0.0.1:{port}/nothing")
    root = eval_project(tmp_path / "p", ["x"]).parents[1]
    for command in (["traces", "list"], ["eval", "compare", "a", "b"], ["eval", "report", "a"]):
        result = cli(root, *command)
        assert result.exit_code == 1, (command, result.output)
        assert f"cannot reach the Postgres state store at postgresql://me:***@127.0.0.1:{port}" in (
            result.stderr.replace("\n", "")
        )
        assert "secret" not in result.output and "Traceback" not in result.output
    assert not (root / ".stepladder" / "traces").exists()
