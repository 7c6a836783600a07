"""Replay records in Postgres: records go where runs go.

With `STEPLADDER_POSTGRES_URL` set, `run --record` and `eval` keep each run's record as one row
of `stepladder_records` (one statement, one transaction: complete or absent) and write nothing
under `.stepladder/records`; `run --replay`, `eval --replay` and `stepladder.testing.replay_eval`
find the record there from another project folder. A hermetic miss still names the node and
what changed, the stored record holds no secret, and an unknown format version is refused.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

import stepladder
from stepladder.cli import app
from stepladder.config import load_project
from stepladder.config.state import POSTGRES_URL_ENV
from stepladder.errors import RecordError, ReplayMiss
from stepladder.replay import VERSION, record_store, replay_session
from stepladder.replay.postgres_records import PostgresRecords
from stepladder.testing import replay_eval
from tests.conftest import write_project
from tests.evalsets.eval_project import eval_project
from tests.fake_chat import chat_server
from tests.postgres_server import PostgresServer
from tests.replay.chain_project import chain_project, change_step

runner = CliRunner()
TEXTS = ["where", "is", "my", "order"]


@pytest.fixture
def url(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database, set as the state store of every project (`STEPLADDER_POSTGRES_URL`)."""
    made = postgres.create_database(f"records_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv(POSTGRES_URL_ENV, made)
    monkeypatch.setenv("EVAL_TEST_DELAY", "0")
    return made


def rows(url: str) -> list[tuple[str, str, int, str]]:
    with psycopg.connect(url) as connection:
        found = connection.execute(
            "SELECT run_id, flow, version, record FROM stepladder_records ORDER BY written"
        ).fetchall()
    return [(str(a), str(b), int(c), str(d)) for a, b, c, d in found]


def copy_project(one: Path, two: Path) -> Path:
    shutil.copytree(one, two, ignore=shutil.ignore_patterns(".stepladder", "__pycache__"))
    return two


def test_postgres_run_record_replays_from_another_folder(tmp_path: Path, url: str) -> None:
    one = chain_project(tmp_path / "one")
    given = ["run", "chain", "--input", '{"text": "hi there"}']
    first = runner.invoke(app, ["--project", str(one), *given, "--record"])
    assert first.exit_code == 0, first.output
    found = re.search(r"record (\S+): the Postgres state store at", first.output)
    assert found, first.output
    run_id = found.group(1)
    assert not (one / ".stepladder" / "records").exists()
    [(stored_id, flow, version, text)] = rows(url)
    assert (stored_id, flow, version) == (run_id, "chain", VERSION)
    assert [call["node"] for call in json.loads(text)["calls"]] == ["split", "shout", "measure"]

    two = copy_project(one, tmp_path / "two")
    again = runner.invoke(app, ["--project", str(two), *given, "--replay", run_id, "--hermetic"])
    assert again.exit_code == 0, again.output
    assert '"length": 9' in again.output and "record " not in again.output
    assert not (two / ".stepladder" / "records").exists()

    change_step(two, 'upper() + "!"', 'upper() + "?!"')
    project = stepladder.open_project(two)
    with pytest.raises(ReplayMiss) as caught:
        project.run("chain", {"text": "hi there"}, replay=run_id, hermetic=True)
    assert caught.value.node_id == "shout"
    assert "its function's code changed (key parts: code)" in str(caught.value)
    session = replay_session(project.config, record=False, replay=run_id)
    assert project.run("chain", {"text": "hi there"}, replay=session).state["length"] == 10
    ran = {node: stats.ran for node, stats in session.stats.items()}
    assert ran == {"split": 0, "shout": 1, "measure": 1}

    with pytest.raises(RecordError, match=f"no record 'nope'.*Postgres.*latest: {run_id}"):
        project.run("chain", {"text": "hi there"}, replay="nope")


def test_postgres_eval_record_replays_from_another_folder(tmp_path: Path, url: str) -> None:
    spec = eval_project(tmp_path / "one", TEXTS)
    made = runner.invoke(app, ["eval", str(spec), "--json"])
    assert made.exit_code == 0, made.output
    run_id = json.loads(made.stdout)["run_id"]
    one = spec.parents[1]
    assert not (one / ".stepladder" / "records").exists()
    store = record_store(load_project(root=one))
    assert isinstance(store, PostgresRecords) and store.run_ids() == [run_id]

    two = copy_project(one, tmp_path / "two")
    other = two / "evalsets" / "shout.yaml"
    replayed = runner.invoke(app, ["eval", str(other), "--replay", run_id, "--hermetic", "--json"])
    assert replayed.exit_code == 0, replayed.output
    total = json.loads(replayed.stdout)["replay"]["total"]
    assert (total["replayed"], total["ran"]) == (len(TEXTS), 0)
    result = replay_eval(other, run_id)
    assert result.metric("loud").mean == 1.0 and len(result.results) == len(TEXTS)

    (two / "evalsets" / "shout.jsonl").write_text(
        (two / "evalsets" / "shout.jsonl").read_text().replace('"my"', '"your"')
    )
    with pytest.raises(ReplayMiss) as caught:
        replay_eval(other, run_id)
    assert caught.value.node_id == "shout" and "(case 'c2')" in str(caught.value)
    assert '"my" -> "your"' in str(caught.value)
    assert not (two / ".stepladder" / "records").exists()


FAKE_KEY = "sk-fake-postgres-replay-0123456789"
FLOW = """
name: answer
state:
  message: {type: str, input: true}
  reply: str
nodes:
  - {id: reply, kind: generate, tier: api, reads: [message], instructions: Answer., output: reply}
"""


def test_postgres_record_holds_no_secret_and_an_unknown_version_is_refused(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_REPLAY_TEST_API_KEY", FAKE_KEY)
    with chat_server('{"reply": "It ships today."}') as (port, requests):
        settings = (
            "name: secrets\ntiers:\n  api: {runtime: openai-compatible, "
            f'base_url: "http://127.0.0.1:{port}/v1", model: m, '
            "api_key_env: PG_REPLAY_TEST_API_KEY}\n"
        )
        root = write_project(tmp_path / "project", {"flows/answer.yaml": FLOW}, settings)
        project = stepladder.open_project(root)
        session = replay_session(project.config, record=True)
        message = f"where is my order? my key is {FAKE_KEY}"
        assert project.run("answer", {"message": message}, replay=session).state["reply"]
    assert requests and session.saved is None and session.saved_run is not None
    [(run_id, _, _, text)] = rows(url)
    assert run_id == session.saved_run
    assert FAKE_KEY not in text and "PG_REPLAY_TEST_API_KEY" not in text and "[secret]" in text
    assert json.loads(text)["calls"][0]["exchanges"], "the model exchange is kept"
    assert not (root / ".stepladder" / "records").exists()

    data = json.loads(text) | {"version": VERSION + 1}
    with psycopg.connect(url) as connection:
        connection.execute(
            "UPDATE stepladder_records SET record = %s WHERE run_id = %s",
            (json.dumps(data), run_id),
        )
    with pytest.raises(RecordError, match=f"version {VERSION + 1} is not one this stepladder"):
        stepladder.open_project(root).run("answer", {"message": "hi"}, replay=run_id)
