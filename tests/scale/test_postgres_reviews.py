"""Pending reviews in Postgres: paused in one project folder, listed and answered in another.

Also the schema version of stepladder's tables (applied on first use, a newer one refused),
and the thread lock that holds across machines.
"""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from stepladder.config.state import POSTGRES_URL_ENV
from stepladder.errors import StateStoreError, ThreadConflictError
from stepladder.flows.reviews import PendingReview, load_reviews, save_reviews
from stepladder.flows.threads import lock_thread
from stepladder.state import postgres as postgres_state
from tests.conftest import write_project
from tests.escalation.helpers import KEYLESS
from tests.escalation.test_human import FLOW, STEPS, TOO_LONG, settings
from tests.fake_chat import chat_server
from tests.postgres_server import PostgresServer, postgres_server


@pytest.fixture
def server() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    with chat_server(TOO_LONG) as served:
        yield served


def cli(project: Path, *args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (KEYLESS, POSTGRES_URL_ENV)}
    return subprocess.run(
        [sys.executable, "-m", "stepladder", "--project", str(project), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, POSTGRES_URL_ENV: url, "COLUMNS": "200"},
    )


@pytest.mark.slow
def test_postgres_review_paused_in_one_folder_is_answered_in_another(
    tmp_path: Path, postgres: PostgresServer, server: tuple[int, list[dict[str, Any]]]
) -> None:
    url = postgres.create_database(f"reviews_{uuid.uuid4().hex[:8]}")
    files = {"flows/desk.yaml": FLOW, "flows/steps.py": STEPS}
    one = write_project(tmp_path / "one", files, settings(server[0]))
    two = write_project(tmp_path / "two", files, settings(server[0]))

    ran = cli(one, "run", "desk", "--input", '{"message": " where is my order? "}', url=url)
    assert ran.returncode == 0, ran.stderr
    assert "paused: node 'reply' awaits human review" in ran.stderr
    thread = ran.stderr.split("thread ", 1)[1].split()[0]

    listed = cli(two, "review", "list", url=url)
    assert listed.returncode == 0, listed.stderr
    assert thread in listed.stdout and "reply" in listed.stdout
    done = cli(two, "review", "resolve", thread, "--answer", '{"reply": "On its way"}', url=url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sent"] == "sent: On its way"
    assert (one / "flows" / "log.txt").read_text().split() == ["first"]
    assert (two / "flows" / "log.txt").read_text().split() == ["after"]
    assert len(server[1]) == 1  # no model was asked again
    assert cli(one, "review", "list", url=url).stdout.strip() == "no pending reviews"


def test_postgres_state_schema_is_migrated_and_a_newer_one_refused(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database(f"schema_{uuid.uuid4().hex[:8]}")
    review = PendingReview(thread_id="t", interrupt_id="i", flow="f", node="n", asked_at="x")
    save_reviews(Path("unused.sqlite"), "t", [review], postgres=url)
    assert load_reviews(Path("unused.sqlite"), postgres=url) == [review]
    assert not Path("unused.sqlite").exists()
    assert postgres_state.claim_thread(url, "t", "f") == "f"
    assert postgres_state.claim_thread(url, "t", "g") == "f"
    known = postgres_state.flow_of_thread(url, "t")
    assert known is not None and known[0] == "f"
    with psycopg.connect(url) as connection:
        versions = connection.execute(
            "SELECT version FROM stepladder_schema ORDER BY version"
        ).fetchall()
        assert versions == [(n,) for n in range(1, postgres_state.SCHEMA_VERSION + 1)]
        connection.execute("INSERT INTO stepladder_schema VALUES (%s)", (999,))
    postgres_state._migrated.discard(url)  # a new process connects
    with pytest.raises(StateStoreError, match="schema version 999, newer than this stepladder"):
        load_reviews(Path("unused.sqlite"), postgres=url)


def test_postgres_thread_lock_holds_across_machines(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.create_database(f"locks_{uuid.uuid4().hex[:8]}")
    here, there = tmp_path / "a" / "checkpoints.sqlite", tmp_path / "b" / "checkpoints.sqlite"
    lease = lock_thread(here, "t1", postgres=url)
    with pytest.raises(ThreadConflictError, match=r"has a run in progress \(stepladder pid \d+"):
        lock_thread(there, "t1", postgres=url)  # another folder: only Postgres knows
    with lock_thread(there, "t2", postgres=url):
        pass
    lease.release()
    with lock_thread(there, "t1", postgres=url), pytest.raises(ThreadConflictError):
        lock_thread(here, "t1", postgres=url)


def test_postgres_state_reconnects_after_the_database_restarts() -> None:
    with postgres_server() as server:
        review = PendingReview(thread_id="t", interrupt_id="i", flow="f", node="n")
        save_reviews(Path("unused.sqlite"), "t", [review], postgres=server.url)
        server.restart()  # the pooled connections are dead now
        assert load_reviews(Path("unused.sqlite"), postgres=server.url) == [review]
