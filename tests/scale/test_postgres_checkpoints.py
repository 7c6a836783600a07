"""Checkpoints in Postgres: a run killed in one process continues from another project folder.

The second process has its own project folder (no `.stepladder` of the first), so what it
continues from can only be the checkpoint in Postgres, as on another machine.
"""

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from stepladder.config import load_project
from stepladder.config.state import POSTGRES_URL_ENV
from stepladder.flows.project import checkpoint_path, compile_project_flow
from stepladder.serve.threads import read_checkpointed
from tests.conftest import write_project
from tests.postgres_server import PostgresServer

STEPS = """
import os
import time
from pathlib import Path

SHARED = Path(os.environ["CHAIN_SHARED"])


def log(line: str) -> None:
    with open(SHARED / "log.txt", "a") as f:
        f.write(line + "\\n")


def first(n: int) -> int:
    log("first")
    return n + 1


def second(a: int) -> int:
    log("second-start")
    if (SHARED / "kill_me").exists():
        (SHARED / "ready").touch()
        time.sleep(120)
    log("second")
    return a * 10


def third(a: int, b: int) -> str:
    log("third")
    return f"{a}/{b}"
"""

FLOW = """
name: chain
state:
  n: {type: int, input: true}
  a: int
  b: int
  c: str
nodes:
  - {id: first, kind: function, call: "flows.pg_steps:first", reads: [n], writes: [a]}
  - {id: second, kind: function, call: "flows.pg_steps:second", reads: [a], writes: [b]}
  - {id: third, kind: function, call: "flows.pg_steps:third", reads: [a, b], writes: [c]}
"""


def stepladder(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "stepladder", "--project", str(project), *args]


def chain_project(folder: Path, settings: str) -> Path:
    files = {"flows/chain.yaml": FLOW, "flows/pg_steps.py": STEPS}
    return write_project(folder, files, settings=settings)


def environment(shared: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != POSTGRES_URL_ENV}
    return {**env, "CHAIN_SHARED": str(shared), **extra}


@pytest.mark.slow
def test_postgres_run_killed_in_one_process_continues_in_another(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.create_database(f"resume_{uuid.uuid4().hex[:8]}")
    shared = tmp_path / "shared"
    shared.mkdir()
    # One process reads the URL from stepladder.yaml, the other from the environment.
    first_project = chain_project(tmp_path / "one", f"name: one\nstate: {{postgres: '{url}'}}\n")
    second_project = chain_project(tmp_path / "two", "name: two\n")
    run = ("run", "chain", "--input", '{"n": 4}', "--thread", "t1")

    (shared / "kill_me").touch()
    process = subprocess.Popen(
        stepladder(first_project, *run),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(shared),
    )
    deadline = time.monotonic() + 60
    while not (shared / "ready").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the second node"
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    assert (shared / "log.txt").read_text().split() == ["first", "second-start"]

    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = 't1'"
        ).fetchone()
    assert row is not None and row[0] > 0
    with sqlite3.connect(checkpoint_path(load_project(root=first_project))) as local:
        tables = {name for (name,) in local.execute("SELECT name FROM sqlite_master")}
    assert "checkpoints" not in tables

    (shared / "kill_me").unlink()
    resumed = subprocess.run(
        stepladder(second_project, *run),
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(shared, **{POSTGRES_URL_ENV: url}),
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed thread 't1' at second" in resumed.stderr
    assert json.loads(resumed.stdout) == {"n": 4, "a": 5, "b": 50, "c": "5/50"}
    assert (shared / "log.txt").read_text().split() == [
        "first",
        "second-start",
        "second-start",
        "second",
        "third",
    ]

    monkeypatch.setenv("CHAIN_SHARED", str(shared))  # the flow's module, imported here too
    config = load_project(root=first_project)
    flow = compile_project_flow(config, "chain")
    record = asyncio.run(read_checkpointed(flow, checkpoint_path(config), "t1", postgres=url))
    assert record is not None and record.status == "finished"
    assert record.state["c"] == "5/50"


def test_postgres_unreachable_is_a_clear_error(tmp_path: Path, postgres: PostgresServer) -> None:
    url = f"postgresql://app:hunter2@127.0.0.1:{postgres.port + 1}/nowhere"
    shared = tmp_path / "shared"
    shared.mkdir()
    project = chain_project(tmp_path / "p", f"name: p\nstate: {{postgres: '{url}'}}\n")
    done = subprocess.run(
        stepladder(project, "run", "chain", "--input", '{"n": 1}', "--thread", "t1"),
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(shared),
    )
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "cannot reach the Postgres state store at" in message
    assert f"postgresql://app:***@127.0.0.1:{postgres.port + 1}/nowhere" in message
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr
    assert "state.postgres" in message
    assert not (shared / "log.txt").exists()


def test_postgres_unreachable_stops_serve_at_start(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = f"postgresql://app:hunter2@127.0.0.1:{postgres.port + 1}/nowhere"
    project = chain_project(tmp_path / "p", f"name: p\nstate: {{postgres: '{url}'}}\n")
    done = subprocess.run(
        stepladder(project, "serve", "--port", "0"),
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(tmp_path),
    )
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "cannot reach the Postgres state store at postgresql://app:***@127.0.0.1" in message
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr
