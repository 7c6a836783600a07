"""Two `stepladder serve` replicas on one Postgres, as real processes on loopback ports.

Each replica has a project folder of its own (as on another machine), so what one sees of
the other's runs can only come from Postgres: a run killed (`kill -9`) on one continues on
the other without running its finished nodes again, a review paused on one is answered on
the other, `GET /runs/{id}` answers the same on both, and two answers to one review at once
make one run (the other gets a 409). And Postgres restarted while runs are in flight on both:
each run finishes or fails with a clear 503, and the registry lists each run once.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from stepladder.config.state import POSTGRES_URL_ENV
from tests.conftest import write_project
from tests.escalation.helpers import KEYLESS
from tests.escalation.test_human import FLOW as DESK_FLOW
from tests.escalation.test_human import STEPS as DESK_STEPS
from tests.escalation.test_human import TOO_LONG
from tests.escalation.test_human import settings as desk_settings
from tests.fake_chat import chat_server
from tests.postgres_server import PostgresServer, postgres_server
from tests.scale.test_postgres_checkpoints import FLOW as CHAIN_FLOW
from tests.scale.test_postgres_checkpoints import STEPS as CHAIN_STEPS
from tests.serve.helpers import Server, serving
from tests.serve.projects import function_project

pytestmark = pytest.mark.slow


def replica(project: Path, url: str, **extra: str) -> AbstractContextManager[Server]:
    """`stepladder serve` on `project` with its state in Postgres at `url`."""
    env: dict[str, str | None] = {POSTGRES_URL_ENV: url, KEYLESS: None, **extra}
    return serving(project, env=env)


def wait_for(check: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def status(server: Server, run_id: str) -> str:
    with server.client() as client:
        response = client.get(f"/runs/{run_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def unthreaded_runs(url: str) -> list[str]:
    """The ids of the registry's runs without a thread."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT run_id FROM stepladder_runs WHERE thread_id IS NULL"
        ).fetchall()
    return [str(row[0]) for row in rows]


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.create_database(f"replicas_{uuid.uuid4().hex[:8]}")


def test_replica_killed_mid_run_is_resumed_through_another(tmp_path: Path, database: str) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    files = {"flows/chain.yaml": CHAIN_FLOW, "flows/pg_steps.py": CHAIN_STEPS}
    one = write_project(tmp_path / "one", files, "name: one\n")
    two = write_project(tmp_path / "two", files, "name: two\n")
    env = {"CHAIN_SHARED": str(shared)}
    (shared / "kill_me").touch()
    with replica(one, database, **env) as a, replica(two, database, **env) as b:

        def start(query: str) -> None:
            try:
                with a.client(timeout=300) as client:
                    client.post(f"/flows/chain/runs{query}", json={"n": 4})
            except httpx.HTTPError:
                pass  # the replica is killed under it

        for query in ("?thread_id=t1", ""):  # one run on a thread, one without
            threading.Thread(target=start, args=(query,), daemon=True).start()
            wait_for(lambda: (shared / "ready").exists(), "the run to reach its second node")
            (shared / "ready").unlink()
        assert status(b, "t1") == "running"  # the thread's lock is held on A
        wait_for(lambda: len(unthreaded_runs(database)) == 1, "the run's row")
        (loose,) = unthreaded_runs(database)
        assert status(b, loose) == "running"  # its row, and A is alive
        a.process.kill()
        a.process.wait(timeout=10)
        wait_for(lambda: status(b, "t1") == "unfinished", "the thread to be let go")
        with b.client() as client:
            lost = client.get(f"/runs/{loose}").json()
        assert lost["status"] == "failed" and lost["error"]["error"] == "replica_lost"
        log = (shared / "log.txt").read_text().split()
        assert log == ["first", "second-start", "first", "second-start"]

        (shared / "kill_me").unlink()
        with b.client() as client:
            resumed = client.post("/flows/chain/runs?thread_id=t1", json={"n": 4})
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["status"] == "finished"
        assert resumed.json()["state"] == {"n": 4, "a": 5, "b": 50, "c": "5/50"}
        assert (shared / "log.txt").read_text().split()[len(log) :] == [
            "second-start", "second", "third",
        ]  # fmt: skip
        with replica(one, database, **env) as again:  # A restarted: its memory is empty
            with again.client() as client:
                read = client.get("/runs/t1").json()
            assert read["status"] == "finished" and read["state"]["c"] == "5/50"
        assert status(b, "t1") == "finished"


@pytest.fixture
def chat() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    with chat_server(TOO_LONG) as served:
        yield served


def desk_replicas(tmp_path: Path, port: int) -> tuple[Path, Path]:
    files = {"flows/desk.yaml": DESK_FLOW, "flows/steps.py": DESK_STEPS}
    return (
        write_project(tmp_path / "one", files, desk_settings(port)),
        write_project(tmp_path / "two", files, desk_settings(port)),
    )


def pause(server: Server) -> str:
    with server.client() as client:
        response = client.post("/flows/desk/runs", json={"message": " where is my order? "})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paused"
    return str(response.json()["run_id"])


def test_replica_answers_a_review_paused_on_another(
    tmp_path: Path, database: str, chat: tuple[int, list[dict[str, Any]]]
) -> None:
    one, two = desk_replicas(tmp_path, chat[0])
    with replica(one, database) as a, replica(two, database) as b:
        run_id = pause(a)
        asked = len(chat[1])
        with b.client() as client:
            seen = client.get(f"/runs/{run_id}").json()
            assert seen["status"] == "paused"
            assert [r["node"] for r in seen["reviews"]] == ["reply"]
            done = client.post(f"/runs/{run_id}/resume", json={"answer": {"reply": "On its way"}})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "finished"
        assert done.json()["state"]["sent"] == "sent: On its way"
        assert len(chat[1]) == asked  # no model was asked again
        assert (one / "flows" / "log.txt").read_text().split() == ["first"]
        assert (two / "flows" / "log.txt").read_text().split() == ["after"]
        for server in (a, b):  # A paused it, B finished it: both say finished
            with server.client() as client:
                read = client.get(f"/runs/{run_id}").json()
            assert read["status"] == "finished", read
            assert read["state"]["sent"] == "sent: On its way"
        with a.client() as client:
            again = client.post(f"/runs/{run_id}/resume", json={"answer": {"reply": "Again"}})
        assert again.status_code == 409 and again.json()["error"] == "not_paused"


def race(a: Server, b: Server, run_id: str) -> dict[str, httpx.Response]:
    """Answer the review of `run_id` on both replicas at the same moment."""
    start = threading.Barrier(2)
    answers: dict[str, httpx.Response] = {}

    def answer(server: Server, reply: str) -> None:
        with server.client() as client:
            start.wait()
            answers[reply] = client.post(
                f"/runs/{run_id}/resume", json={"answer": {"reply": reply}}
            )

    racers = [
        threading.Thread(target=answer, args=(a, "from A")),
        threading.Thread(target=answer, args=(b, "from B")),
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(120)
    return answers


def test_replicas_answering_one_review_at_once_make_one_run(
    tmp_path: Path, database: str, chat: tuple[int, list[dict[str, Any]]]
) -> None:
    one, two = desk_replicas(tmp_path, chat[0])
    with replica(one, database) as a, replica(two, database) as b:
        for attempt in range(3):
            run_id = pause(a if attempt % 2 else b)
            answers = race(a, b, run_id)
            codes = sorted(response.status_code for response in answers.values())
            assert codes == [200, 409], {k: r.text for k, r in answers.items()}
            (winner,) = [k for k, r in answers.items() if r.status_code == 200]
            (loser,) = [r for r in answers.values() if r.status_code == 409]
            assert loser.json()["error"] in ("run_in_progress", "not_paused")
            for server in (a, b):
                with server.client() as client:
                    read = client.get(f"/runs/{run_id}").json()
                assert read["state"]["sent"] == f"sent: {winner}"
        logs = (one / "flows" / "log.txt", two / "flows" / "log.txt")
        ran = [line for log in logs if log.exists() for line in log.read_text().split()]
        assert ran.count("after") == 3  # one answer per review went through


LOAD_RUNS = 40
THREAD_RUNS = 10


async def load(servers: tuple[Server, Server], restart: Callable[[], None]) -> list[Any]:
    """Runs of `wait` on both replicas at once (some on threads); `restart` while they wait."""
    clients = [server.async_client(timeout=120) for server in servers]

    async def one(i: int) -> tuple[str | None, httpx.Response]:
        thread = f"load-{i}" if i < THREAD_RUNS else None
        query = f"?thread_id={thread}" if thread else ""
        response = await clients[i % 2].post(f"/flows/wait/runs{query}", json={"seconds": 2.0})
        return thread, response

    try:
        runs = [asyncio.create_task(one(i)) for i in range(LOAD_RUNS)]
        await asyncio.to_thread(restart)
        return list(await asyncio.gather(*runs))
    finally:
        for client in clients:
            await client.aclose()


def test_postgres_restarted_under_load_on_replicas_loses_and_repeats_no_run(
    tmp_path: Path,
) -> None:
    one = function_project(tmp_path / "one")
    two = function_project(tmp_path / "two")
    with postgres_server() as server, replica(one, server.url) as a, replica(two, server.url) as b:

        def running() -> int:
            with psycopg.connect(server.url) as connection:
                row = connection.execute(
                    "SELECT count(*) FROM stepladder_runs WHERE status = 'running'"
                ).fetchone()
            return int(row[0]) if row else 0

        def restart() -> None:
            wait_for(lambda: running() >= LOAD_RUNS // 2, "runs in flight")
            server.restart()

        results = asyncio.run(load((a, b), restart))
        answered = []
        for thread, response in results:
            body = response.json()
            if response.status_code == 200:
                assert body["status"] == "finished", body
                answered.append(body["run_id"])
            else:  # failed, clearly
                assert response.status_code == 503, (
                    response.text + a.stderr[-3000:] + b.stderr[-3000:]
                )
                assert body["error"] == "state_unavailable"
                assert "Postgres state store" in body["detail"]
            if thread is not None and response.status_code == 200:
                assert body["run_id"] == thread
        assert len(answered) == len(set(answered)) >= LOAD_RUNS // 2

        def registry() -> list[tuple[str, str]]:
            with psycopg.connect(server.url) as connection:
                return [
                    (str(run_id), str(state))
                    for run_id, state in connection.execute(
                        "SELECT run_id, status FROM stepladder_runs"
                    ).fetchall()
                ]

        wait_for(lambda: "running" not in {s for _, s in registry()}, "every run to end")
        rows = registry()
        assert len(rows) == len({run_id for run_id, _ in rows}) >= len(answered)
        assert set(answered) <= {run_id for run_id, s in rows if s == "finished"}
        for run_id in answered:
            assert status(a, run_id) == status(b, run_id) == "finished"


def test_postgres_down_under_a_replica_is_a_503_naming_the_store(tmp_path: Path) -> None:
    with postgres_server() as server, replica(function_project(tmp_path / "p"), server.url) as a:
        with a.client() as client:
            assert client.post("/flows/greet/runs?thread_id=g1", json={"name": "x"}).is_success
        stop = subprocess.run(
            [*server.restart_command[:-1], "stop"], capture_output=True, check=False
        )
        assert stop.returncode == 0, stop.stderr
        with a.client(timeout=120) as client:
            failed = client.post("/flows/greet/runs?thread_id=g2", json={"name": "x"})
            health = client.get("/healthz")
        assert failed.status_code == 503, failed.text
        assert failed.json()["error"] == "state_unavailable"
        assert "Postgres state store at postgresql://postgres@127.0.0.1" in failed.json()["detail"]
        assert "Traceback" not in a.stderr
        assert health.status_code == 503 and health.json()["state"]["status"] == "down"
